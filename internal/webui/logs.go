package webui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// The jobs' logs: each job's output in a <pre> (readable without
// JavaScript, collapsible), and a live stream per running job that appends
// new output as it arrives and ends when the job ends. Logs come from the
// API's log route; secret inputs were replaced by *** by the runner before
// the output ever reached the server.

// Bounds of reading logs for a page and following them live.
const (
	logPageChunks = 5000 // chunks per API call (the API's maximum)
	logMaxPages   = 20   // API calls per page view
	logPoll       = 500 * time.Millisecond
	logKeepAlive  = 15 * time.Second
	// logRecheck is how many polls pass between checks that the session
	// is still valid: a stream must not outlive a logout or a revocation.
	logRecheck = 10
)

func (s *Server) logRoutes() []route {
	return []route{
		{"GET /releases/{id}/logs", s.logsPage},
		{"GET /releases/{id}/logs/live", s.live(s.logsLive)},
	}
}

// jobLogsView is the data of template "joblogs".
type jobLogsView struct {
	ReleaseID int64
	Run       int
	Jobs      []*jobLog
}

// jobLog is one job's log.
type jobLog struct {
	Name    string
	State   shipgate.JobState
	Attempt int
	// Text is the whole log as one string, escaped once by the template.
	Text  string
	Lines int
	// Live is the URL of the job's live stream; "" once the job ended.
	Live string
	// Open shows the log unfolded: a running or failed job's.
	Open bool
}

// jobLogsSection is the data of template "joblogs" for a release view:
// the logs of every job of its current run; nil before any run.
func (s *Server) jobLogsSection(c *call, v *client.ReleaseView) (any, error) {
	if v == nil || v.Release == nil || v.Run == 0 || len(v.Jobs) == 0 {
		return nil, nil
	}
	d := &jobLogsView{ReleaseID: v.ID, Run: v.Run}
	byName := map[string]*jobLog{}
	texts := map[string]*strings.Builder{}
	attempt := map[string]int{}
	for _, j := range v.Jobs {
		jl := &jobLog{Name: j.Name, State: j.State, Attempt: j.Attempt, Open: j.State == shipgate.JobRunning || j.State == shipgate.JobFailed}
		byName[j.Name], texts[j.Name] = jl, &strings.Builder{}
		d.Jobs = append(d.Jobs, jl)
	}
	var after int64
	for page := 0; page < logMaxPages; page++ {
		q := url.Values{"run": {strconv.Itoa(v.Run)}, "limit": {strconv.Itoa(logPageChunks)}}
		if after > 0 {
			q.Set("after", strconv.FormatInt(after, 10))
		}
		var lg client.Logs
		if err := c.API("GET", fmt.Sprintf("/api/v1/releases/%d/logs?%s", v.ID, q.Encode()), nil, &lg); err != nil {
			return nil, err
		}
		for _, ch := range lg.Chunks {
			b := texts[ch.Job]
			if b == nil {
				continue // a job of another run cannot appear; be safe
			}
			if ch.Attempt > 1 && ch.Attempt != attempt[ch.Job] {
				fmt.Fprintf(b, "──── attempt %d ────\n", ch.Attempt)
			}
			if ch.Attempt > 0 {
				attempt[ch.Job] = ch.Attempt
			}
			b.WriteString(ch.Data)
		}
		after = lg.Next
		if len(lg.Chunks) < logPageChunks {
			break
		}
	}
	for name, jl := range byName {
		jl.Text = texts[name].String()
		jl.Lines = strings.Count(jl.Text, "\n")
		if !jl.State.Final() {
			q := url.Values{"job": {name}, "after": {strconv.FormatInt(after, 10)}, "run": {strconv.Itoa(v.Run)}}
			jl.Live = fmt.Sprintf("/releases/%d/logs/live?%s", v.ID, q.Encode())
		}
	}
	return d, nil
}

// logsPageData is the jobs' logs on a page of their own.
type logsPageData struct {
	Release *client.ReleaseView
	Logs    any
}

func (d logsPageData) PageTitle() string { return fmt.Sprintf("Logs of release %d", d.Release.ID) }

func (s *Server) logsPage(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := releaseOf(r, c)
	if err != nil {
		return err
	}
	lg, err := s.jobLogsSection(c, v)
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "release_logs", logsPageData{Release: v, Logs: lg})
	return nil
}

// logsLive follows one job's log: an "append" event with each batch of new
// output (escaped) to the job's <pre>, and "end" once the job has ended
// and its last output was sent. Each event carries the log cursor as its
// id, so a browser that reconnects resumes where it was (Last-Event-ID).
func (s *Server) logsLive(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	job := q.Get("job")
	if job == "" {
		return shipgate.Errorf(shipgate.EINVALID, "say which job's log to follow: ?job=NAME")
	}
	after, err := logCursor(q.Get("after"))
	if err != nil {
		return err
	}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		if after, err = logCursor(last); err != nil {
			return err
		}
	}
	run, err := logCursor(q.Get("run"))
	if err != nil {
		return err
	}
	fetch := func() (*client.Logs, error) {
		api := url.Values{"job": {job}, "after": {strconv.FormatInt(after, 10)}, "limit": {strconv.Itoa(logPageChunks)}}
		if run > 0 {
			api.Set("run", strconv.FormatInt(run, 10))
		}
		var lg client.Logs
		return &lg, c.API("GET", fmt.Sprintf("/api/v1/releases/%d/logs?%s", id, api.Encode()), nil, &lg)
	}
	// The first read comes before the stream opens, so a refusal or an
	// unknown job is a page with its status, not a broken stream.
	lg, err := fetch()
	if err != nil {
		return err
	}
	st := openStream(w)
	elem := "log-" + job
	quiet := time.Now()
	for polls := 1; ; polls++ {
		if len(lg.Chunks) > 0 {
			var b strings.Builder
			for _, ch := range lg.Chunks {
				b.WriteString(ch.Data)
			}
			after = lg.Next
			if err := st.appendCursor(elem, after, template.HTMLEscapeString(b.String())); err != nil {
				return nil // the reader went away
			}
			quiet = time.Now()
		}
		if lg.Done && len(lg.Chunks) < logPageChunks {
			st.end()
			return nil
		}
		if len(lg.Chunks) < logPageChunks {
			t := time.NewTimer(logPoll)
			select {
			case <-r.Context().Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		if time.Since(quiet) >= logKeepAlive {
			if st.comment() != nil {
				return nil
			}
			quiet = time.Now()
		}
		if polls%logRecheck == 0 {
			if _, err := s.session(r); err != nil {
				st.end()
				return nil
			}
		}
		if lg, err = fetch(); err != nil {
			s.Logger.Warn("live log stream stopped", "release", id, "job", job, "err", err)
			st.end()
			return nil
		}
	}
}

// logCursor reads a non-negative number from a query or header.
func logCursor(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, shipgate.Errorf(shipgate.EINVALID, "%q is not a log position (a non-negative number)", v)
	}
	return n, nil
}

// appendCursor sends an "append" event whose id is the log cursor after
// it, for a reconnecting browser's Last-Event-ID.
func (st *stream) appendCursor(elem string, cursor int64, html string) error {
	b, err := json.Marshal(map[string]string{"id": elem, "html": html})
	if err != nil {
		return err
	}
	_ = st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := fmt.Fprintf(st.w, "id: %d\nevent: append\ndata: %s\n\n", cursor, b); err != nil {
		return err
	}
	return st.rc.Flush()
}
