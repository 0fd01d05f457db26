package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/shipgate/shipgate/internal/testutil"
)

// The browser tests drive Debian's Chromium with chromedp against the real
// binary (`shipgate serve`, started by the e2e harness). Each test starts
// one headless Chromium with a fresh profile; each user gets a browser
// context of their own (their own cookie jar, like two people on two
// machines), so two sessions never share a cookie.

// chromiumNames are the binaries the tests look for, Debian's first.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// requireChromium returns the path of a Chromium binary. Without one the
// test is skipped locally and fails under CI=true, where a missing browser
// must not pass silently (.ci/run installs Debian's chromium).
func requireChromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SHIPGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testutil.Unavailable(t, "Chromium", fmt.Errorf("not on PATH (looked for %s; apt-get install -y chromium, or set SHIPGATE_CHROMIUM)", strings.Join(chromiumNames, ", ")))
	return ""
}

// uiBrowser is one headless Chromium for one test, pointed at a server's
// UI.
type uiBrowser struct {
	t    testing.TB
	base string // the server's URL, without a trailing slash
	ctx  context.Context
}

// startBrowser starts Chromium for the test (headless, no sandbox as root,
// no GPU, a fresh profile) and stops it when the test ends.
func startBrowser(t testing.TB, base string) *uiBrowser {
	t.Helper()
	path := requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium-profile")),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithErrorf(func(format string, args ...any) {
		// The protocol's noise (unknown events) is not the test's concern.
	}))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the browser; it gets no timeout of its own, as
	// a timeout on it would stop the whole browser later.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return &uiBrowser{t: t, base: strings.TrimSuffix(base, "/"), ctx: ctx}
}

// uiTab is one user's tab in a browser context of their own.
type uiTab struct {
	t    testing.TB
	b    *uiBrowser
	ctx  context.Context
	name string
}

// person opens a tab in a new browser context: a separate cookie jar, so
// it is a separate session from every other person's.
func (b *uiBrowser) person(name string) *uiTab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a tab for %s: %v", name, err)
	}
	return &uiTab{t: b.t, b: b, ctx: ctx, name: name}
}

// run runs actions on the tab, bounded by testutil.WaitLimit, and fails
// the test with what it was doing.
func (p *uiTab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, testutil.WaitLimit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s's browser: %s: %v\npage now:\n%s", p.name, what, err, p.bodyText())
	}
}

// navigate runs actions that load a page (open a URL, submit a form) and
// returns the HTTP status of the document that loaded.
func (p *uiTab) navigate(what string, actions ...chromedp.Action[chromedp.Void]) int {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, testutil.WaitLimit)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		p.t.Fatalf("%s's browser: %s: %v", p.name, what, err)
	}
	return int(resp.Status)
}

// open loads a path of the UI and returns its status.
func (p *uiTab) open(path string) int {
	p.t.Helper()
	return p.navigate("open "+path, chromedp.Navigate(p.b.base+path))
}

// login logs in through the login form with an API token and returns the
// status of the page it lands on.
func (p *uiTab) login(token string) int {
	p.t.Helper()
	p.open("/login")
	p.run("fill in the login form", chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), token))
	return p.navigate("submit the login form", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)))
}

// eval evaluates a JavaScript expression in the page and decodes its value
// into a T (a promise is awaited).
func evalIn[T any](p *uiTab, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, testutil.WaitLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s's browser: evaluate %s: %v", p.name, expr, err)
	}
	return v
}

// bodyText is the text the page shows now ("" if it cannot be read).
func (p *uiTab) bodyText() string {
	ctx, cancel := context.WithTimeout(p.ctx, testutil.WaitLimit)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return fmt.Sprintf("(cannot read the page: %v)", err)
	}
	return s
}

// text is the visible text of the first element matching a CSS selector,
// "" when there is none.
func (p *uiTab) text(css string) string {
	p.t.Helper()
	return evalIn[string](p, fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.innerText:""})()`, css))
}

// has reports whether the page has an element matching a CSS selector.
func (p *uiTab) has(css string) bool {
	p.t.Helper()
	return evalIn[bool](p, fmt.Sprintf(`document.querySelector(%q) !== null`, css))
}

// waitText waits until the element matching css shows text containing
// want — a live update, a redirect's page — and fails with what it shows.
func (p *uiTab) waitText(css, want string) {
	p.t.Helper()
	testutil.WaitForNil(p.t, fmt.Sprintf("%s's page to show %q in %s", p.name, want, css), func() error {
		got := p.text(css)
		if strings.Contains(got, want) {
			return nil
		}
		return errors.New("it shows: " + got)
	})
}

// markPage puts a marker on the loaded document that a reload or a
// navigation would wipe; stillSamePage tells whether it is still there, so
// a test can prove an update arrived without a reload.
func (p *uiTab) markPage() {
	p.t.Helper()
	evalIn[bool](p, `(window.__shipgateNoReload = true)`)
}

func (p *uiTab) stillSamePage() bool {
	p.t.Helper()
	return evalIn[bool](p, `window.__shipgateNoReload === true`)
}

// location is the tab's current path and query.
func (p *uiTab) location() string {
	p.t.Helper()
	return evalIn[string](p, `location.pathname + location.search`)
}

// updateScreenshots says whether this run writes the screenshots in
// docs/ui (SHIPGATE_UPDATE_SCREENSHOTS=1): not on every run, so CI does
// not dirty the tree.
func updateScreenshots() bool { return os.Getenv("SHIPGATE_UPDATE_SCREENSHOTS") == "1" }

// screenshot writes a PNG of the element matching css (the whole page for
// "") to docs/ui/<name>.png when updateScreenshots says so.
func (p *uiTab) screenshot(name, css string) {
	p.t.Helper()
	if !updateScreenshots() {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, testutil.WaitLimit)
	defer cancel()
	var png []byte
	var err error
	if css == "" {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	} else {
		png, err = chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(css)))
	}
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	out := filepath.Join(dir, name+".png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("wrote %s (%d bytes)", out, len(png))
}

// uiWorld is a server with the people of the browser tests: dave and erin
// approve (release-managers), carol deploys and approves but created the
// release, vera only views; a service whose production needs 2 approvals
// from release-managers and has a flag, new-checkout; and a release of it
// created by carol, waiting.
type uiWorld struct {
	s       *server
	b       *uiBrowser
	release releaseJSON
}

// uiService needs two approvals from release-managers in production, and
// deploys with one quick step.
const uiService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  environments:
    - name: production
      approvals:
        required: 2
        from_groups: [release-managers]
        expires_after: 24h
  flags:
    - key: new-checkout
      type: boolean
      description: The one-page checkout
      variants: { "on": true, "off": false }
      default_variant: "off"
      safe_variant: "off"
      rules:
        - when:
            - { attribute: country, op: in, value: [de, fr] }
          variant: "on"
      rollout:
        split:
          - { variant: "on", percent: 25 }
          - { variant: "off", percent: 75 }
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: echo "deploying $SHIPGATE_VERSION"
`

func newUIWorld(t *testing.T) *uiWorld {
	t.Helper()
	requireChromium(t) // before starting anything
	s := startServer(t)
	s.ok("admin", "user", "create", "carol", "--role", "deployer", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "dave", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "erin", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "vera", "--role", "viewer")
	for _, u := range []string{"carol", "dave", "erin", "vera"} {
		s.tokens[u] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u))
	}
	svc := filepath.Join(s.workDir, "shop.yaml")
	if err := os.WriteFile(svc, []byte(uiService), 0o644); err != nil {
		t.Fatal(err)
	}
	s.ok("admin", "apply", "-f", svc)
	if err := os.WriteFile(filepath.Join(s.workDir, "shop-1.0.tar"), []byte("shop build 1.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	rel := s.create("carol", "shop", "--env", "production", "--version", "1.0", "--artifact", "shop-1.0.tar")
	if rel.State != "pending_approval" {
		t.Fatalf("the release is %s, want pending_approval", rel.State)
	}
	// The browser talks to the server itself: the OpenAPI-checking proxy
	// in front of it knows only the API.
	return &uiWorld{s: s, b: startBrowser(t, s.direct), release: rel}
}

// as opens a tab for user in a browser context of their own and logs in
// through the form.
func (w *uiWorld) as(user string) *uiTab {
	w.s.t.Helper()
	p := w.b.person(user)
	if code := p.login(w.s.tokens[user]); code != 200 {
		w.s.t.Fatalf("%s logs in: status %d\n%s", user, code, p.bodyText())
	}
	p.waitText("header", "Signed in as "+user)
	return p
}

// releasePath is the path of the world's release page.
func (w *uiWorld) releasePath() string { return fmt.Sprintf("/releases/%d", w.release.ID) }
