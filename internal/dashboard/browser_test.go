package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/prolific-receiver/receiver/internal/prolifictest"
)

// hostileStudyName would run script if any path put it into the page as HTML.
const hostileStudyName = `<img src=x onerror=alert(1)>Survey "B" & co`

// findChromium returns the Chromium binary, or skips the test (fails it under CI).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not installed, and CI is set: install Debian's chromium package")
	}
	t.Skip("chromium not installed: browser test skipped (CI installs it)")
	return ""
}

// browserLog records what the page did that a test should know about.
type browserLog struct {
	mu       sync.Mutex
	problems []string
	requests []string
}

func (b *browserLog) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+ev.ExceptionDetails.Text+" "+fmt.Sprint(ev.ExceptionDetails.Exception))
	case *page.EventJavascriptDialogOpening:
		b.problems = append(b.problems, "dialog opened: "+ev.Message)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			b.problems = append(b.problems, "console error: "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	}
}

// newBrowser starts headless Chromium with a fresh profile; everything it
// does is bounded by ctx.
func newBrowser(t *testing.T, ctx context.Context, rec *browserLog) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(rec.listen), chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return bctx
}

// domRow is a study row as the browser shows it.
type domRow struct {
	Found  bool           `json:"found"`
	Status string         `json:"status"`
	Taken  int            `json:"taken"`
	Total  int            `json:"total"`
	Text   string         `json:"text"`
	Value  float64        `json:"value"`
	Max    float64        `json:"max"`
	Name   string         `json:"name"`
	Counts map[string]int `json:"counts"`
	Imgs   int            `json:"imgs"`
	High   bool           `json:"high"`
}

const readRowJS = `((id) => {
  const tr = document.querySelector('#study-rows tr[data-study-id="' + id + '"]');
  if (!tr) return {found: false, counts: {}};
  const bar = tr.querySelector('progress'), name = tr.querySelector('.name');
  const counts = {};
  tr.querySelectorAll('li.chip').forEach(li => { counts[li.dataset.status] = +li.dataset.count; });
  return {found: true, status: tr.dataset.status, taken: +tr.dataset.placesTaken, total: +tr.dataset.placesTotal,
    text: tr.querySelector('.taken').textContent, value: bar.value, max: bar.max, name: name ? name.textContent : '',
    counts, imgs: tr.querySelectorAll('img').length, high: !!tr.querySelector('.flag')};
})(%s)`

func readRow(t *testing.T, ctx context.Context, id string) domRow {
	t.Helper()
	q, _ := json.Marshal(id)
	row, err := chromedp.Run(ctx, chromedp.Evaluate[domRow](fmt.Sprintf(readRowJS, q)))
	if err != nil {
		t.Fatalf("reading the row of %s: %v", id, err)
	}
	return row
}

// checkRow compares the browser's row with the fake's state of the study.
func checkRow(t *testing.T, got domRow, want prolifictest.StudyState) {
	t.Helper()
	if !got.Found {
		t.Errorf("study %s: no row on the page", want.ID)
		return
	}
	wantText := fmt.Sprintf("%d / %d", want.PlacesTaken, want.TotalAvailablePlaces)
	if got.Status != want.Status || got.Taken != want.PlacesTaken || got.Total != want.TotalAvailablePlaces ||
		got.Text != wantText || int(got.Value) != want.PlacesTaken || int(got.Max) != want.TotalAvailablePlaces || got.Name != want.Name {
		t.Errorf("study %s row = status %q, places %d/%d, text %q, bar %v/%v, name %q; want %q, %d/%d, %q, %d/%d, %q",
			want.ID, got.Status, got.Taken, got.Total, got.Text, got.Value, got.Max, got.Name,
			want.Status, want.PlacesTaken, want.TotalAvailablePlaces, wantText, want.PlacesTaken, want.TotalAvailablePlaces, want.Name)
	}
	if !maps.Equal(got.Counts, nonZero(want.Counts)) {
		t.Errorf("study %s counts on the page = %v, want %v", want.ID, got.Counts, nonZero(want.Counts))
	}
}

// artifactDir is where screenshots go: $TEST_ARTIFACTS_DIR, or a temp dir.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("TEST_ARTIFACTS_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("artifact dir: %v", err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowserLiveDashboard drives studies in a fake Prolific that delivers
// signed webhooks to a real receiver, and checks in headless Chromium that
// the dashboard shows the fake's numbers and follows new progress without a
// reload.
func TestBrowserLiveDashboard(t *testing.T) {
	findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	rg := newRig(t, ctx)
	f := rg.fake

	// Before the page loads: a study in progress, a completed one with many
	// returns, and a paused one.
	s1, err := f.CreateStudy(rigWorkspace, "", "Reaction times (pilot)", 20)
	must(t, err)
	must(t, f.SetStudyStatus(s1, prolifictest.StudyActive))
	review := []string{prolifictest.SubmissionActive, prolifictest.SubmissionAwaitingReview}
	rg.addSubmissions(t, s1, 8, review, review, review, []string{prolifictest.SubmissionActive},
		[]string{prolifictest.SubmissionActive}, []string{prolifictest.SubmissionReturned})
	sim, err := f.SimulateStudy(ctx, prolifictest.SimConfig{WorkspaceID: rigWorkspace, Name: "Memory span", Places: 12, ReturnRate: 0.35, Seed: 7})
	must(t, err)
	s4, err := f.CreateStudy(rigWorkspace, "", "Visual search", 30)
	must(t, err)
	must(t, f.SetStudyStatus(s4, prolifictest.StudyActive))
	rg.addSubmissions(t, s4, 4, review, review, review, review)
	must(t, f.SetStudyStatus(s4, prolifictest.StudyPaused))
	states := rg.waitStored(t, ctx, s1, sim.StudyID, s4)

	// Through a proxy that serves the admin listener under /receiver/:
	// every link, asset and poll must stay under it.
	base := behindPrefix(t, rg.admin.URL, "/receiver")
	rec := &browserLog{}
	bctx := newBrowser(t, ctx, rec)
	if err := chromedp.Do(bctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#study-rows tr[data-study-id="`+s1+`"]`)),
	); err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
	for _, id := range []string{s1, sim.StudyID, s4} {
		checkRow(t, readRow(t, bctx, id), states[id])
	}
	if !hasHighReturn(t, rg, sim.StudyID) {
		t.Fatalf("the simulation (seed 7) sent no high-return-rate event: pick another seed")
	}
	if !readRow(t, bctx, sim.StudyID).High || readRow(t, bctx, s1).High {
		t.Errorf("high-return-rate flags: %s %v, %s %v; want only %s flagged", sim.StudyID, readRow(t, bctx, sim.StudyID).High,
			s1, readRow(t, bctx, s1).High, sim.StudyID)
	}

	// More progress, and a new study, while the page stays open.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.__loadedOnce = 1`)); err != nil {
		t.Fatal(err)
	}
	rg.addSubmissions(t, s1, 6, review, review, review, review)
	s3, err := f.CreateStudy(rigWorkspace, "", hostileStudyName, 10)
	must(t, err)
	must(t, f.SetStudyStatus(s3, prolifictest.StudyActive))
	rg.addSubmissions(t, s3, 3, review)
	states = rg.waitStored(t, ctx, s1, s3)

	want := states[s1]
	q, _ := json.Marshal(s1)
	q3, _ := json.Marshal(s3)
	cond := fmt.Sprintf(`(() => { const tr = document.querySelector('#study-rows tr[data-study-id=' + JSON.stringify(%s) + ']');
		const n = document.querySelector('#study-rows tr[data-study-id=' + JSON.stringify(%s) + '] .name');
		return !!tr && tr.dataset.placesTaken === %q && !!n && n.textContent !== ''; })()`, q, q3, fmt.Sprint(want.PlacesTaken))
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("the page did not show %d places taken for %s and the new study within 10 s: %v", want.PlacesTaken, s1, err)
	}
	checkRow(t, readRow(t, bctx, s1), want)
	newRow := readRow(t, bctx, s3)
	checkRow(t, newRow, states[s3])
	if newRow.Imgs != 0 {
		t.Errorf("the hostile study name became %d <img> element(s)", newRow.Imgs)
	}
	reloaded, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.__loadedOnce !== 1`))
	if err != nil || reloaded {
		t.Errorf("page reloaded = %v (%v), want updates in place", reloaded, err)
	}
	totals, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('[data-total="studies"]').textContent`))
	if err != nil || totals != "4" {
		t.Errorf("studies total on the page = %q (%v), want 4", totals, err)
	}

	screenshot(t, bctx, "dashboard.png")
	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatalf("emulating dark mode: %v", err)
	}
	screenshot(t, bctx, "dashboard-dark.png")
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/studies/"+s1), chromedp.WaitVisible(chromedp.CSS("details.group"))); err != nil {
		t.Fatalf("loading the study page: %v", err)
	}
	screenshot(t, bctx, "study-dark.png")
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/events?event_type=study.status.change"), chromedp.WaitVisible(chromedp.CSS("table.events"))); err != nil {
		t.Fatalf("loading the events page: %v", err)
	}
	screenshot(t, bctx, "events-dark.png")

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range rec.problems {
		t.Errorf("browser: %s", p)
	}
	for _, r := range rec.requests {
		if !strings.HasPrefix(r, base+"/") {
			t.Errorf("the page requested %s, outside %s/ (the admin listener behind the proxy)", r, base)
		}
	}
	// The new study was created after the page loaded, so only a poll can have shown it.
	if n := strings.Count(strings.Join(rec.requests, "\n"), "/dashboard/studies.json"); n < 1 {
		t.Errorf("the page polled studies.json %d times, want at least once", n)
	}
}

// hasHighReturn reports whether the receiver stored a high-return-rate event for the study.
func hasHighReturn(t *testing.T, rg *rig, studyID string) bool {
	t.Helper()
	s, err := rg.store.Study(context.Background(), studyID)
	if err != nil {
		t.Fatalf("Study %s: %v", studyID, err)
	}
	return s.HighReturnRateEvents > 0
}
