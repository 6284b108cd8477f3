package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/store"
)

// Reader is the part of the store the dashboard reads; store.Store satisfies it.
type Reader interface {
	Studies(ctx context.Context, f store.StudyFilter) ([]store.Study, error)
	Study(ctx context.Context, id string) (*store.Study, error)
	Submissions(ctx context.Context, studyID string, limit int) ([]store.Submission, error)
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
}

// Defaults applied by New to zero Options fields.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultMaxStudies   = 200
	DefaultPageSize     = 50
	DefaultStudyEvents  = 20
)

// Options tune a Dashboard. The zero value uses the defaults above.
type Options struct {
	// Log receives one line per store error behind a 503 page.
	Log zerolog.Logger
	// PollInterval is how often the studies page asks for fresh numbers.
	PollInterval time.Duration
	// MaxStudies caps the rows on the studies page (most recently active first).
	MaxStudies int
	// PageSize is how many events the events page shows at once.
	PageSize int
	// StudyEvents is how many recent events a study's page shows.
	StudyEvents int
	// Now is the clock used for relative times; nil means time.Now.
	Now func() time.Time
}

// Dashboard is the web dashboard. Build it with New; it implements
// handlers.Mounter.
type Dashboard struct {
	r      Reader
	opts   Options
	pages  map[string]*template.Template
	assets map[string]asset
}

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the templates/<name>.html pages, each executed inside layout.html.
var pageNames = []string{"index", "events", "study", "error", "actions"}

// New returns a dashboard reading from r. It parses the embedded templates
// once and panics if they are broken, which is a build defect, not a runtime
// condition.
func New(r Reader, opts Options) *Dashboard {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.MaxStudies <= 0 {
		opts.MaxStudies = DefaultMaxStudies
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	opts.PageSize = min(opts.PageSize, store.MaxLimit-1) // one more is read to find an older page
	if opts.StudyEvents <= 0 {
		opts.StudyEvents = DefaultStudyEvents
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Dashboard{r: r, opts: opts, assets: loadAssets()}
	layout := template.Must(template.New("layout.html").Funcs(d.funcs()).ParseFS(templateFS, "templates/layout.html"))
	d.pages = make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t := template.Must(layout.Clone())
		d.pages[name] = template.Must(t.ParseFS(templateFS, "templates/"+name+".html"))
	}
	return d
}

// Mount adds the dashboard's routes to the admin router: GET / (studies),
// /dashboard/studies.json (the live view's data), /events, /studies/{id}
// and /static/*.
func (d *Dashboard) Mount(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(securityHeaders)
		r.Get("/", d.handleIndex)
		r.Get("/dashboard/studies.json", d.handleStudiesJSON)
		r.Get("/events", d.handleEvents)
		r.Get("/actions", d.handleActions)
		r.Get("/studies/{id}", d.handleStudy)
		r.Get("/static/*", d.handleStatic)
	})
}

// securityHeaders forbids every other origin, framing and sniffing: the
// pages need nothing but their own assets and JSON.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// page is what layout.html needs besides the page's own data.
type page struct {
	Title string
	Nav   string // "studies" or "events": the highlighted link
	Data  any
	// Root is the dashboard's root relative to this page ("./", "../"),
	// the page's <base>: every link is written relative to the root, so
	// the pages work at / and under any path prefix a proxy strips
	// (README "Watching studies"). Self is this page relative to the root.
	Root, Self string
}

// pageBase returns the root of the dashboard relative to the page r asks
// for, and that page relative to the root.
func pageBase(r *http.Request) (root, self string) {
	self = strings.TrimPrefix(r.URL.EscapedPath(), "/")
	root = "./"
	if depth := strings.Count(self, "/"); depth > 0 {
		root = strings.Repeat("../", depth)
	}
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	return root, self
}

// render executes a page into a buffer first, so a template error becomes a
// 500 rather than half a page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Root, p.Self = pageBase(r)
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		d.opts.Log.Error().Err(err).Str("page", name).Msg("dashboard: rendering failed")
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// errorPage is the data of error.html.
type errorPage struct {
	Status  int
	Heading string
	Message string
}

// fail answers a store error: a 404 page for absent things, otherwise a 503
// page, with the detail logged once and never shown.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error, what string) {
	if errors.Is(err, store.ErrNotFound) {
		d.notFound(w, r, what+" not found", "The receiver has stored nothing about it. It appears once a webhook mentions it.")
		return
	}
	if r.Context().Err() != nil {
		return // the client went away; nobody reads the answer
	}
	d.opts.Log.Error().Err(err).Str("what", what).Str("path", r.URL.Path).Msg("dashboard: store error")
	d.render(w, r, http.StatusServiceUnavailable, "error", page{Title: "Store unavailable", Data: errorPage{
		Status: http.StatusServiceUnavailable, Heading: "Store unavailable",
		Message: "The receiver could not read its store just now. Try again in a moment; /readyz shows whether the store is reachable.",
	}})
}

func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request, heading, msg string) {
	d.render(w, r, http.StatusNotFound, "error", page{Title: heading, Data: errorPage{
		Status: http.StatusNotFound, Heading: heading, Message: msg}})
}

func (d *Dashboard) badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	d.render(w, r, http.StatusBadRequest, "error", page{Title: "Bad request", Data: errorPage{
		Status: http.StatusBadRequest, Heading: "Bad request", Message: msg}})
}
