package httpx_test

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/httpx"
)

func TestRegistrar(t *testing.T) {
	counter := func(help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "pairpad_test_total", Help: help})
	}
	tests := []struct {
		name      string
		registrar func(prometheus.Registerer) *httpx.Registrar
		help      string // of the second counter; "first" is the same description
		reuse     bool   // the second registration returns the first counter
		already   bool   // Err is a prometheus.AlreadyRegisteredError
		fails     bool
	}{
		{name: "shared reuses the same series", registrar: httpx.SharedRegistrar, help: "first", reuse: true},
		{name: "exclusive refuses the same series", registrar: httpx.ExclusiveRegistrar, help: "first", already: true, fails: true},
		{name: "shared refuses a conflicting description", registrar: httpx.SharedRegistrar, help: "other", fails: true},
		{name: "exclusive refuses a conflicting description", registrar: httpx.ExclusiveRegistrar, help: "other", fails: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			first := counter("first")
			r := tc.registrar(reg)
			if got := httpx.Register(r, first); got != first {
				t.Fatal("first registration returned another collector")
			}
			if err := r.Err(); err != nil {
				t.Fatalf("first registration: %v", err)
			}
			second := counter(tc.help)
			got := httpx.Register(r, second)
			if want := map[bool]prometheus.Counter{true: first, false: second}[tc.reuse]; got != want {
				t.Errorf("second registration returned the wrong collector (reuse %v)", tc.reuse)
			}
			err := r.Err()
			if (err != nil) != tc.fails {
				t.Fatalf("Err() = %v, want failure %v", err, tc.fails)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) != tc.already {
				t.Errorf("Err() = %v, want AlreadyRegisteredError %v", err, tc.already)
			}
			if err == nil {
				return
			}
			httpx.Register(r, counter("third"))
			if r.Err() != err {
				t.Errorf("Err() = %v after a third failure, want the first failure %v", r.Err(), err)
			}
		})
	}
}
