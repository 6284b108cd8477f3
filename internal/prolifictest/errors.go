package prolifictest

import (
	"encoding/json"
	"net/http"
)

// apiError is Prolific's documented error body (webhooks.md §1, "Error shape").
type apiError struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Status    int    `json:"status"`
	ErrorCode int    `json:"error_code"`
	Title     string `json:"title"`
	// Detail is a string, a list of strings or an object {field: [messages]}.
	Detail      any  `json:"detail"`
	Interactive bool `json:"interactive"`
}

// errorCodes are made up: Prolific documents error_code without a table.
var errorCodes = map[int]int{
	http.StatusBadRequest:          140000,
	http.StatusUnauthorized:        140100,
	http.StatusForbidden:           140300,
	http.StatusNotFound:            140400,
	http.StatusMethodNotAllowed:    140500,
	http.StatusTooManyRequests:     142900,
	http.StatusInternalServerError: 150000,
}

// writeError answers status in Prolific's error shape.
func writeError(w http.ResponseWriter, status int, detail any) {
	code, ok := errorCodes[status]
	if !ok {
		code = 100000 + status*100
	}
	title := http.StatusText(status)
	if title == "" {
		title = "Error"
	}
	writeJSON(w, status, apiError{Error: apiErrorDetail{Status: status, ErrorCode: code, Title: title, Detail: detail}})
}

// fieldRequired is Prolific's message for a required field left out.
const fieldRequired = "This field is required."

// fieldError is the {field: [message]} detail form.
func fieldError(field, msg string) map[string][]string {
	return map[string][]string{field: {msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
