package dashboard_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolifictest"
)

var (
	baseHref = regexp.MustCompile(`<base href="([^"]*)">`)
	pageRefs = regexp.MustCompile(`(?:href|src|action|data-src)="([^"]*)"`)
)

// TestDashboardBehindPathPrefix follows every link, asset, form and poll
// URL of every page reachable from the studies page, served under
// /receiver/ by a proxy that strips the prefix: each must stay under the
// prefix and answer 200 (a fragment link must stay on its page).
func TestDashboardBehindPathPrefix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rg := newRig(t, ctx)
	id, err := rg.fake.CreateStudy(rigWorkspace, "", "Slash/and?query", 5)
	must(t, err)
	must(t, rg.fake.SetStudyStatus(id, prolifictest.StudyActive))
	rg.addSubmissions(t, id, 2, []string{prolifictest.SubmissionActive})
	rg.waitStored(t, ctx, id)

	base := behindPrefix(t, rg.admin.URL, "/receiver")
	prefix, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	start := base + "/"
	seen := map[string]bool{start: true}
	queue := []string{start}
	pages := 0
	for len(queue) > 0 && pages < 40 {
		page := queue[0]
		queue = queue[1:]
		code, hdr, body := get(t, page)
		if code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", page, code)
			continue
		}
		if !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			continue
		}
		pages++
		pageURL, _ := url.Parse(page)
		m := baseHref.FindStringSubmatch(body)
		if m == nil {
			t.Errorf("%s has no <base href>", page)
			continue
		}
		root := pageURL.ResolveReference(mustURL(t, html.UnescapeString(m[1])))
		if root.String() != prefix.String() {
			t.Errorf("%s: <base href=%q> resolves to %s, want %s", page, m[1], root, prefix)
		}
		for _, ref := range pageRefs.FindAllStringSubmatch(baseHref.ReplaceAllString(body, ""), -1) {
			r := html.UnescapeString(ref[1])
			target := root.ResolveReference(mustURL(t, r))
			if target.Host != prefix.Host || !strings.HasPrefix(target.Path, prefix.Path) {
				t.Errorf("%s links %q to %s, outside %s", page, r, target, prefix)
				continue
			}
			if target.Fragment != "" {
				self := *target
				self.Fragment = ""
				if self.String() != page {
					t.Errorf("%s: in-page link %q goes to %s", page, r, target)
				}
				continue
			}
			u := target.String()
			if !seen[u] {
				seen[u] = true
				queue = append(queue, u)
			}
		}
	}
	study := base + "/studies/" + url.PathEscape(id)
	for _, want := range []string{base + "/events", study, base + "/dashboard/studies.json", base + "/metrics", base + "/readyz"} {
		if !seen[want] {
			t.Errorf("no page links to %s; links seen: %d", want, len(seen))
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return u
}
