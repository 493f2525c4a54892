package httpx

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Registrar registers one component's collectors on a registry and keeps the
// first failure, so a constructor registers all its series and checks once.
// It is the one way services register metrics.
type Registrar struct {
	reg   prometheus.Registerer
	share bool
	err   error
}

// SharedRegistrar returns a Registrar that reuses a collector already
// registered under the same description: two components on one registry
// count into the same series instead of failing.
func SharedRegistrar(reg prometheus.Registerer) *Registrar {
	return &Registrar{reg: reg, share: true}
}

// ExclusiveRegistrar returns a Registrar for which a collector already
// registered is an error (a prometheus.AlreadyRegisteredError): for series
// that belong to one component per registry.
func ExclusiveRegistrar(reg prometheus.Registerer) *Registrar {
	return &Registrar{reg: reg}
}

// Err is the first registration failure, or nil.
func (r *Registrar) Err() error { return r.err }

// Register registers c on r's registry and returns the collector to use: c,
// or with a shared Registrar the one already registered under c's
// description. A failure is kept for Err and c is returned.
func Register[C prometheus.Collector](r *Registrar, c C) C {
	err := r.reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if r.share && errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if r.err == nil {
		r.err = err
	}
	return c
}
