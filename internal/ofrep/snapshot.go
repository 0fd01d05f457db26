package ofrep

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/flags"
)

// Snapshot is the compiled flags of one environment at one generation. It
// is immutable and safe for concurrent use.
type Snapshot struct {
	Environment string
	// Generation moves with every change of a flag of the environment;
	// the bulk ETag is derived from it.
	Generation int64
	byName     map[string]*entry
	served     []*entry // the bulk answer, in name order
}

type entry struct {
	name    string // the name the bulk answer serves it as
	service string
	flag    *flags.Flag
	err     string   // a stored definition that does not compile
	among   []string // an ambiguous plain key: the qualified names
}

// NewSnapshot compiles the live flags of env. A definition that does not
// compile (it passed validation when it was stored, so only a bug or a
// hand-edited database gets here) is served as a GENERAL error for that
// flag alone, so one bad row never takes the others down.
func NewSnapshot(env string, gen int64, states []shipgate.FlagState) *Snapshot {
	s := &Snapshot{Environment: env, Generation: gen, byName: make(map[string]*entry, 2*len(states))}
	byKey := map[string][]*entry{}
	for i := range states {
		st := &states[i]
		e := &entry{service: st.Service}
		f, err := flags.Compile(st.Flag)
		if err != nil {
			e.err = fmt.Sprintf("flag %s/%s cannot be evaluated: %v", st.Service, st.Flag.Key, err)
		}
		e.flag = f
		qualified := st.Service + "/" + st.Flag.Key
		e.name = qualified
		s.byName[qualified] = e
		byKey[st.Flag.Key] = append(byKey[st.Flag.Key], e)
	}
	for key, es := range byKey {
		if len(es) == 1 {
			es[0].name = key
			s.byName[key] = es[0]
			continue
		}
		names := make([]string, len(es))
		for i, e := range es {
			names[i] = e.name
		}
		sort.Strings(names)
		s.byName[key] = &entry{name: key, among: names}
	}
	for _, es := range byKey {
		s.served = append(s.served, es...)
	}
	sort.Slice(s.served, func(i, j int) bool { return s.served[i].name < s.served[j].name })
	return s
}

// Len is the number of flags in the snapshot.
func (s *Snapshot) Len() int { return len(s.served) }

// Evaluate evaluates the flag served as name ("key" or "service/key") for
// ctx. A name the snapshot lacks is FLAG_NOT_FOUND; an ambiguous plain key
// is GENERAL naming the qualified keys to use instead.
func (s *Snapshot) Evaluate(name string, ctx map[string]any) (flags.Result, string) {
	e := s.byName[name]
	switch {
	case e == nil:
		return flags.Result{Key: name, Reason: shipgate.ReasonError, ErrorCode: shipgate.FlagErrNotFound,
			ErrorMessage: fmt.Sprintf("flag %q is not defined in environment %s", name, s.Environment)}, ""
	case e.among != nil:
		return flags.Result{Key: name, Reason: shipgate.ReasonError, ErrorCode: shipgate.FlagErrGeneral,
			ErrorMessage: fmt.Sprintf("flag key %q is declared by more than one service in environment %s: ask for %s", name, s.Environment, strings.Join(e.among, " or "))}, ""
	case e.err != "":
		return flags.Result{Key: name, Reason: shipgate.ReasonError, ErrorCode: shipgate.FlagErrGeneral, ErrorMessage: e.err}, e.service
	}
	r := flags.Evaluate(e.flag, ctx)
	r.Key = name
	return r, e.service
}
