package protocol

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// Event types of the interview: the interviewers' notes and shared run output.
const (
	TypeNotesUpdate = "notes-update"
	TypeNotesAck    = "notes-ack"
	TypeRunOutput   = "run-output"
)

// Limits of run-output.
const (
	// MaxRunOutputBytes bounds a run-output payload as the client encoded it.
	MaxRunOutputBytes = 64 << 10
	// MaxRunIDLen bounds runId, in characters.
	MaxRunIDLen = 64
	// MaxRunDurationMs bounds durationMs: a day, far beyond any run a page
	// lets finish, and exact in every client's number type.
	MaxRunDurationMs = 24 * 60 * 60 * 1000
)

// RunOutput is the payload of run-output: the result of running the code,
// shared by the user who ran it. UserID, UserName and Timestamp are set by
// the server (what a client sends in them is ignored).
type RunOutput struct {
	RunID      string   `json:"runId"`
	Language   Language `json:"language"`
	Stdout     string   `json:"stdout"`
	Stderr     string   `json:"stderr"`
	ExitCode   int64    `json:"exitCode"`
	DurationMs int64    `json:"durationMs"`
	UserID     string   `json:"userId,omitempty"`
	UserName   string   `json:"userName,omitempty"`
	Timestamp  int64    `json:"timestamp,omitempty"` // unix ms, when the server stored it
}

// DecodeRunOutput parses a run-output payload: {runId, language, stdout,
// stderr, exitCode, durationMs}, every field required. runId is 1 to
// MaxRunIDLen characters; language one of the protocol's (else
// INVALID_LANGUAGE); stdout and stderr strings; exitCode an integer in the
// int32 range; durationMs an integer from 0 to MaxRunDurationMs. A payload
// over MaxRunOutputBytes is PAYLOAD_TOO_LARGE.
func DecodeRunOutput(raw json.RawMessage) (RunOutput, error) {
	if len(raw) > MaxRunOutputBytes {
		return RunOutput{}, Errorf(CodePayloadTooLarge, "The run-output payload is %d bytes; at most %d are allowed",
			len(raw), MaxRunOutputBytes).WithDetails(map[string]any{"maxBytes": MaxRunOutputBytes})
	}
	var p struct {
		RunID      *string          `json:"runId"`
		Language   *json.RawMessage `json:"language"`
		Stdout     *string          `json:"stdout"`
		Stderr     *string          `json:"stderr"`
		ExitCode   *int64           `json:"exitCode"`
		DurationMs *int64           `json:"durationMs"`
	}
	const shape = "{runId, language, stdout, stderr, exitCode, durationMs}"
	if err := decodeObject(raw, &p, "the run-output payload", shape); err != nil {
		return RunOutput{}, err
	}
	switch {
	case p.RunID == nil || *p.RunID == "" || utf8.RuneCountInString(*p.RunID) > MaxRunIDLen:
		return RunOutput{}, fieldError("runId", fmt.Sprintf("is required: a string of 1 to %d characters", MaxRunIDLen))
	case p.Language == nil:
		return RunOutput{}, fieldError("language", "is required: the language the code ran as")
	case p.Stdout == nil:
		return RunOutput{}, fieldError("stdout", "is required: a string (empty when there was no output)")
	case p.Stderr == nil:
		return RunOutput{}, fieldError("stderr", "is required: a string (empty when there was no output)")
	case p.ExitCode == nil || *p.ExitCode < math.MinInt32 || *p.ExitCode > math.MaxInt32:
		return RunOutput{}, fieldError("exitCode", "is required: an integer (0 for success)")
	case p.DurationMs == nil || *p.DurationMs < 0 || *p.DurationMs > MaxRunDurationMs:
		return RunOutput{}, fieldError("durationMs", fmt.Sprintf("is required: an integer from 0 to %d", MaxRunDurationMs))
	}
	lang, err := DecodeLanguage(*p.Language)
	if err != nil {
		return RunOutput{}, err
	}
	return RunOutput{RunID: *p.RunID, Language: lang, Stdout: *p.Stdout, Stderr: *p.Stderr,
		ExitCode: *p.ExitCode, DurationMs: *p.DurationMs}, nil
}
