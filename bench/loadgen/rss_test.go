package loadgen

import (
	"os"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   int64
		ok     bool
	}{
		{"Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t  12345 kB\nThreads: 3\n", 12345 * 1024, true},
		{"Name:\tx\n", 0, false},
		{"VmRSS:\t12 MB\n", 0, false},
		{"VmRSS:\tmany kB\n", 0, false},
	} {
		got, err := parseVmRSS([]byte(tc.status))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, ok=%v", tc.status, got, err, tc.want, tc.ok)
		}
	}
	if n, err := ReadVmRSS(os.Getpid()); err != nil || n <= 0 {
		t.Errorf("ReadVmRSS(self) = %d, %v", n, err)
	}
}
