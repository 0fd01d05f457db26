package webui

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// What a release changes against the release that runs in its
// environment now: the API compares (GET /api/v1/releases/{id}/compare,
// shipgate.CompareReleases), the page shows each change in words with the
// old value struck out and the new one inserted.

// compareView is the "what changes" section of a release page.
type compareView struct {
	*client.ReleaseComparison
	Rows []changeRow
	// RevisionDiff is the service file's line diff between the revision
	// running now and the release's, when they differ: the pipeline and
	// policy rows say only that their digests changed.
	RevisionDiff string
	OldRevision  string
	NewRevision  string
}

// changeRow is one change as the page shows it.
type changeRow struct {
	What   string // in words: "Version", "Input region", …
	Change string // "added", "removed", "changed"
	Old    string
	New    string
	Secret bool
	Digest bool // values are digests: shown shortened, in full in a title
}

// comparison asks the API what release id changes.
func (s *Server) comparison(c *call, id int64) (*compareView, error) {
	var cmp client.ReleaseComparison
	if err := c.API("GET", "/api/v1/releases/"+strconv.FormatInt(id, 10)+"/compare", nil, &cmp); err != nil {
		return nil, err
	}
	v := &compareView{ReleaseComparison: &cmp}
	for _, ch := range cmp.Changes {
		row := changeRow{What: changeWords(ch.Field), Change: ch.Change, Old: ch.Old, New: ch.New, Secret: ch.Secret}
		switch ch.Field {
		case "artifact.sha256", "pipeline", "policy":
			row.Digest = true
		case "service_revision":
			if cmp.Current != nil && ch.Old != "" && ch.New != "" {
				v.OldRevision, v.NewRevision = ch.Old, ch.New
				v.RevisionDiff = "/services/" + url.PathEscape(cmp.Current.Service) + "/revisions/" + url.PathEscape(ch.New) + "?against=" + url.QueryEscape(ch.Old)
			}
		}
		v.Rows = append(v.Rows, row)
	}
	return v, nil
}

// changeWords names a compared field for people.
func changeWords(field string) string {
	switch field {
	case "version":
		return "Version"
	case "artifact.sha256":
		return "Artifact digest (sha256)"
	case "artifact.location":
		return "Artifact location"
	case "source.commit":
		return "Commit"
	case "source.ref":
		return "Ref"
	case "kind":
		return "Kind of release"
	case "service_revision":
		return "Service file revision"
	case "pipeline":
		return "Pipeline (digest of the frozen jobs)"
	case "policy":
		return "Policy (digest of the frozen environment rules)"
	}
	if name, ok := strings.CutPrefix(field, "secret_input."); ok {
		return "Secret input " + name
	}
	if name, ok := strings.CutPrefix(field, "input."); ok {
		return "Input " + name
	}
	return field
}

// changeVerb is a change kind in words.
func changeVerb(kind string) string {
	switch kind {
	case shipgate.ChangeAdded:
		return "added"
	case shipgate.ChangeRemoved:
		return "removed"
	}
	return "changed"
}
