package webui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// parseTemplates parses every page: templates/layout.html with the page's
// own file (templates/<page>.html), plus templates/_*.html shared parts.
func (s *Server) parseTemplates() error {
	s.pages = map[string]*template.Template{}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	var parts []string
	for _, f := range files {
		if strings.HasPrefix(path.Base(f), "_") {
			parts = append(parts, f)
		}
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, append([]string{"templates/layout.html", f}, parts...)...)
		if err != nil {
			return fmt.Errorf("web UI template %s: %w", f, err)
		}
		s.pages[name] = t
	}
	return nil
}

// view is what every page template gets: the caller and the page's data.
type view struct {
	Call  *call
	Title string
	Data  any
}

// render writes page name with data, with status. The template runs into
// a buffer first, so a failure is a clean error page, never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, c *call, status int, name string, data any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	title := name
	if m, ok := data.(map[string]any); ok {
		if t, ok := m["Title"].(string); ok {
			title = t
		}
	} else if tp, ok := data.(interface{ PageTitle() string }); ok {
		title = tp.PageTitle()
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, view{Call: c, Title: title, Data: data}); err != nil {
		s.Logger.Error("render web UI page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fragment renders one named template of a page (for live updates) into a
// string.
func (s *Server) fragment(page, name string, c *call, data any) (string, error) {
	t, ok := s.pages[page]
	if !ok {
		return "", fmt.Errorf("no template %s", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, view{Call: c, Data: data}); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// stateWords gives each state a symbol beside its name, so a state is never
// told by colour alone. The symbols are ones common fonts (DejaVu) have.
var stateWords = map[string]string{
	"pending_approval": "‖", "approved": "✓", "queued": "…", "running": "▶", "succeeded": "✔",
	"failed": "✖", "rejected": "⊘", "cancelled": "⊘", "expired": "◔",
	"pending": "◷", "held": "■", "fired": "↩", "called_off": "—", "unavailable": "!",
	"online": "●", "lost": "✖", "draining": "⏏", "skipped": "—",
	"rolled_back": "↺", "done": "↺", "waiting": "○",
}

var funcs = template.FuncMap{
	// when is an absolute time in UTC, to the second.
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "–"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "–"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return "–"
	},
	// iso is a time for <time datetime>.
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// state renders a state as a labelled badge: symbol and words.
	"state": func(st any) template.HTML {
		s := fmt.Sprint(st)
		sym := stateWords[s]
		return template.HTML(fmt.Sprintf(`<span class="state state-%s"><span aria-hidden="true">%s</span> %s</span>`,
			template.HTMLEscapeString(s), sym, template.HTMLEscapeString(strings.ReplaceAll(s, "_", " "))))
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	},
	"dur":  func(d time.Duration) string { return d.String() },
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
	// section hands a shared part (templates/_*.html) the caller and its
	// own data: {{template "rollout" (section .Call .Data.Rollout)}}.
	"section": func(c *call, d any) view { return view{Call: c, Data: d} },
}
