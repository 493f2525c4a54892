package loadgen

import (
	"strings"
	"testing"
	"time"
)

func TestSlowLog(t *testing.T) {
	c := Clock{base: time.UnixMilli(1_000_000)}
	l := &SlowLog{Over: 3 * time.Millisecond}
	l.start(c)
	ms := int64(time.Millisecond)
	for _, e := range []struct {
		sent    int64
		latency time.Duration
	}{
		{250 * ms, 5 * time.Millisecond}, // third bucket, slow, added first
		{10 * ms, time.Millisecond},      // first bucket
		{120 * ms, 3 * time.Millisecond}, // second bucket, not over
		{99 * ms, 4 * time.Millisecond},  // first bucket, slow
	} {
		l.add(e.sent, e.latency)
	}
	var nilLog *SlowLog
	nilLog.start(c)
	nilLog.add(0, time.Second) // records nothing, does not panic
	var b strings.Builder
	if err := l.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := "# over 3ms; bucket <unix ms> <received> <slow>; slow <sent unix us> <latency us>\n" +
		"bucket 1000000 2 1\n" +
		"bucket 1000100 1 0\n" +
		"bucket 1000200 1 1\n" +
		"slow 1000099000 4000\n" +
		"slow 1000250000 5000\n"
	if b.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", b.String(), want)
	}
}
