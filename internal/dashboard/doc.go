// Package dashboard serves the receiver's read-only web dashboard on the admin
// listener: one row per study with its status, a progress bar of places taken,
// submission counts by status and the high-return-rate flag; an events page
// with filters and paging; and one page per study with its submissions and
// recent events.
//
// Pages are rendered on the server with html/template from templates embedded
// in the binary, together with the stylesheet and script; a page makes no
// request to any other origin (no CDN, no web font), and the Content-Security-Policy
// header says so to the browser.
//
// Live view: the studies page polls GET /dashboard/studies.json every
// Options.PollInterval (2 s by default) from a small embedded script and
// updates the rows, bars and totals in place, adding rows for new studies.
// Short polling was chosen over Server-Sent Events because it survives
// buffering reverse proxies, needs no long-lived request (http.Server.Shutdown
// does not end streaming handlers), and costs one cheap indexed query per
// open tab every two seconds. Polling pauses while the tab is hidden and backs
// off while the receiver is unreachable. Without JavaScript the page still
// shows the state as of its load.
package dashboard
