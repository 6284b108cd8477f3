package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/go-chi/chi/v5"
)

//go:embed static
var staticFS embed.FS

// asset is one embedded static file with its content hash.
type asset struct {
	body  []byte
	ctype string
	hash  string // first 16 hex digits of the SHA-256 of body
}

func loadAssets() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(staticFS, "static", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		out[p[len("static/"):]] = asset{body: b, ctype: ctype, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		panic("dashboard: reading embedded assets: " + err.Error())
	}
	return out
}

// assetURL is the versioned URL of an embedded asset; the version changes
// with the content, so browsers may cache each URL for long. It panics on
// an unknown name, which only a broken template can pass.
func (d *Dashboard) assetURL(name string) string {
	a, ok := d.assets[name]
	if !ok {
		panic("dashboard: no embedded asset " + name)
	}
	return "static/" + name + "?v=" + a.hash
}

// handleStatic serves GET /static/* from the embedded files, with an ETag
// and a day of caching (a year when the URL carries the current version).
func (d *Dashboard) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "*")
	a, ok := d.assets[name]
	if !ok {
		d.notFound(w, r, "Not found", "There is no such file.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=86400")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
