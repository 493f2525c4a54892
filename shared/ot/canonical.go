package ot

import (
	"errors"
	"fmt"
)

// ErrNotCanonical reports a well-formed operation that is not in canonical
// form. Where an insert sits next to a delete its order decides ties in
// Transform, so a client that keeps [-3, "a"] where the server keeps
// ["a", -3] would diverge silently: the server refuses such ops instead.
var ErrNotCanonical = errors.New("ot: operation is not in canonical form")

// The rules of the canonical form, as named in errors (NotCanonical.Rule).
const (
	// RuleNoEmpty: no component is empty (a zero count or an empty insert).
	RuleNoEmpty = "no-empty-components"
	// RuleMerged: no two adjacent components are of one kind (two retains,
	// two inserts or two deletes in a row are one component).
	RuleMerged = "adjacent-components-merged"
	// RuleInsertFirst: an insert next to a delete comes before it
	// ([2, "x", -3], never [2, -3, "x"]).
	RuleInsertFirst = "insert-before-delete"
)

// NotCanonical is the error Canonical returns: which rule component
// Index (0-based) breaks. It wraps ErrNotCanonical.
type NotCanonical struct {
	Rule  string
	Index int
}

func (e *NotCanonical) Error() string {
	return fmt.Sprintf("%v: component %d breaks the rule %s", ErrNotCanonical, e.Index, e.Rule)
}

// Unwrap returns ErrNotCanonical.
func (e *NotCanonical) Unwrap() error { return ErrNotCanonical }

// Canonical reports whether o, a well-formed op, is in the canonical form
// Normalize produces: no empty components, adjacent components of one kind
// merged, and an insert before an adjacent delete. The trailing retain
// stays (retains and deletes cover the whole base text). It returns nil or
// a *NotCanonical naming the first rule broken; Canonical(o) == nil exactly
// when o equals o.Normalize().
func Canonical(o Op) error {
	for i, c := range o {
		if c.N == 0 && c.S == "" {
			return &NotCanonical{Rule: RuleNoEmpty, Index: i}
		}
		if i == 0 {
			continue
		}
		p := o[i-1]
		switch {
		case p.IsRetain() && c.IsRetain(), p.IsInsert() && c.IsInsert(), p.IsDelete() && c.IsDelete():
			return &NotCanonical{Rule: RuleMerged, Index: i}
		case p.IsDelete() && c.IsInsert():
			return &NotCanonical{Rule: RuleInsertFirst, Index: i}
		}
	}
	return nil
}
