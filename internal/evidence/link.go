package evidence

import (
	"net/url"
	"strings"

	"github.com/shipgate/shipgate"
)

// MaxURLLen bounds a link's URL.
const MaxURLLen = 2048

// ParseLink checks a link (manual evidence: a ticket, a pen-test report, a
// sign-off) and returns its summary. Only http and https URLs with a host
// are accepted: a javascript: or file: URL would be shown as a link on the
// release page.
func ParseLink(rawURL, title string) (map[string]any, error) {
	if rawURL == "" {
		return nil, shipgate.Errorf(shipgate.EINVALID, "a link needs a URL (--url)")
	}
	if len(rawURL) > MaxURLLen {
		return nil, shipgate.Errorf(shipgate.EINVALID, "the link URL is %d bytes; at most %d", len(rawURL), MaxURLLen)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(rawURL, " \t\r\n") {
		return nil, shipgate.Errorf(shipgate.EINVALID, "link URL %q must be an absolute http or https URL", rawURL)
	}
	if u.User != nil {
		return nil, shipgate.Errorf(shipgate.EINVALID, "link URL %q carries credentials; attach it without them", u.Redacted())
	}
	if strings.TrimSpace(title) == "" {
		return nil, shipgate.Errorf(shipgate.EINVALID, "a link needs a title (--title)")
	}
	if err := CheckName(title); err != nil {
		return nil, shipgate.Errorf(shipgate.EINVALID, "link title: %s", shipgate.ErrorMessage(err))
	}
	return map[string]any{"url": u.String(), "title": title}, nil
}
