package config

import (
	"github.com/shipgate/shipgate"
	"go.yaml.in/yaml/v3"
)

// ParseFlag parses a file holding one flag in the service-file syntax (an
// item of spec.flags: key, type, variants, …), as `shipgate flag set
// --file` sends it. Unknown keys and invalid definitions are file:line
// errors (*Error); the flag is returned only when there are none.
func ParseFlag(file string, src []byte) (*shipgate.Flag, error) {
	p := &parser{file: file, lines: map[string]int{}}
	root, err := decodeOne(file, src, "flag")
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, &Error{Problems: []Problem{{File: file, Line: 1, Message: "the file is empty; it holds one flag: key, type, variants, default_variant, safe_variant, …"}}}
	}
	if root.Kind != yaml.MappingNode {
		p.fail(root, "the file holds one flag, a mapping (key, type, variants, …), not %s", kindName(root))
		return nil, &Error{Problems: p.errs}
	}
	// The parser of spec.flags reads a list: the file is its one item.
	flags := p.flags(&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: root.Line, Content: []*yaml.Node{root}}, "flag")
	if len(p.errs) == 0 {
		for _, fe := range flags[0].Validate("flag[0]") {
			p.errs = append(p.errs, Problem{File: file, Line: p.lineOf(fe.Path), Message: fe.Message})
		}
	}
	if len(p.errs) > 0 {
		e := &Error{Problems: p.errs}
		e.sort()
		return nil, e
	}
	return &flags[0], nil
}
