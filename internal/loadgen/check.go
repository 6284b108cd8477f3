package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CheckResult is what CheckAcked found.
type CheckResult struct {
	// Acked is the number of distinct event IDs in the acked files.
	Acked int `json:"acked"`
	// Found is how many of them GET /api/v1/events/{id} returned.
	Found int `json:"found"`
	// Missing lists acked IDs the receiver does not have (at most 100 shown).
	Missing      []string `json:"missing"`
	MissingCount int      `json:"missing_count"`
	// Stored is the number of events GET /api/v1/events lists in total.
	Stored int `json:"stored"`
	// Repeated lists event IDs the listing shows more than once (at most 100).
	Repeated      []string `json:"repeated"`
	RepeatedCount int      `json:"repeated_count"`
}

// OK reports whether every acknowledged event is stored exactly once.
func (c CheckResult) OK() bool {
	return c.MissingCount == 0 && c.RepeatedCount == 0 && c.Found == c.Acked && c.Stored >= c.Acked
}

// maxListed caps the IDs a CheckResult lists.
const maxListed = 100

// CheckAcked proves that every event ID in the acked files (as written by
// Run's Acked writer) is stored by the receiver whose admin listener is at
// adminURL (e.g. http://127.0.0.1:9090), and that the receiver's event list
// holds no ID twice. token is the RECEIVER_ADMIN_TOKEN, or "" when the read
// API is open. It returns an error only when the check itself could not run.
func CheckAcked(ctx context.Context, adminURL, token string, ackedFiles ...string) (CheckResult, error) {
	var res CheckResult
	if err := checkTarget(adminURL, false); err != nil {
		return res, fmt.Errorf("check: %w", err)
	}
	ids, err := readIDs(ackedFiles)
	if err != nil {
		return res, fmt.Errorf("check: %w", err)
	}
	res.Acked = len(ids)
	c := &apiClient{base: strings.TrimRight(adminURL, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}

	jobs := make(chan string)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for id := range jobs {
				found, err := c.hasEvent(ctx, id)
				mu.Lock()
				switch {
				case err != nil:
					firstErr = cmpErr(firstErr, err)
				case found:
					res.Found++
				default:
					res.MissingCount++
					if len(res.Missing) < maxListed {
						res.Missing = append(res.Missing, id)
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		jobs <- id
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return res, fmt.Errorf("check: %w", firstErr)
	}

	seen, err := c.listAll(ctx)
	if err != nil {
		return res, fmt.Errorf("check: %w", err)
	}
	for id, n := range seen {
		res.Stored += n
		if n > 1 {
			res.RepeatedCount++
			if len(res.Repeated) < maxListed {
				res.Repeated = append(res.Repeated, id)
			}
		}
	}
	return res, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// readIDs returns the distinct non-empty lines of the files, in order.
func readIDs(files []string) ([]string, error) {
	var ids []string
	seen := make(map[string]bool)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			id := strings.TrimSpace(sc.Text())
			if id != "" && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return ids, nil
}

// apiClient reads the receiver's admin API.
type apiClient struct {
	base, token string
	http        *http.Client
}

// get fetches path and decodes a 200 body into v; it returns the status code.
// Transient failures (503, network errors) are retried a few times.
func (c *apiClient) get(ctx context.Context, path string, v any) (int, error) {
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
		if err != nil {
			return 0, err
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		switch {
		case err != nil:
			lastErr = err
		case resp.StatusCode == http.StatusOK:
			if err := json.Unmarshal(body, v); err != nil {
				return 0, fmt.Errorf("GET %s: decode: %w", path, err)
			}
			return resp.StatusCode, nil
		case resp.StatusCode == http.StatusNotFound:
			return resp.StatusCode, nil
		case resp.StatusCode >= 500:
			lastErr = fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
		default:
			return resp.StatusCode, fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
		}
	}
	return 0, lastErr
}

// hasEvent reports whether GET /api/v1/events/{id} finds the event. An ID
// that was acknowledged as a duplicate of identical signed content resolves
// to the stored event (an alias), so the returned event_id may differ.
func (c *apiClient) hasEvent(ctx context.Context, id string) (bool, error) {
	var ev struct {
		EventID string `json:"event_id"`
	}
	code, err := c.get(ctx, "/api/v1/events/"+url.PathEscape(id), &ev)
	if err != nil || code == http.StatusNotFound {
		return false, err
	}
	if ev.EventID == "" {
		return false, fmt.Errorf("GET event %s returned no event_id", id)
	}
	return true, nil
}

// listAll pages through GET /api/v1/events and counts each event ID.
func (c *apiClient) listAll(ctx context.Context) (map[string]int, error) {
	seen := make(map[string]int)
	before := int64(0)
	for {
		path := "/api/v1/events?limit=1000"
		if before > 0 {
			path += "&before=" + strconv.FormatInt(before, 10)
		}
		var page struct {
			Events []struct {
				EventID string `json:"event_id"`
			} `json:"events"`
			NextBefore int64 `json:"next_before"`
		}
		code, err := c.get(ctx, path, &page)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: status %d", path, code)
		}
		for _, e := range page.Events {
			seen[e.EventID]++
		}
		if page.NextBefore == 0 || len(page.Events) == 0 {
			return seen, nil
		}
		if before > 0 && page.NextBefore >= before {
			return nil, errors.New("event listing does not advance")
		}
		before = page.NextBefore
	}
}
