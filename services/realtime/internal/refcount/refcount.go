// Package refcount keeps values by key for as long as someone holds them:
// the first Acquire of a key makes its value, the last Release takes it
// out again. The hub's rooms and the document engine's replicas live by
// it.
package refcount

// Map holds values by key, each with a count of its holders. A value
// taken out of its key early (Forget) keeps its count, so its holders
// still release it and the last one still learns it was the last; a new
// value may meanwhile be acquired under the same key.
//
// Map is not safe for concurrent use: its owner guards it with the mutex
// that also guards what the owner does when a value comes and goes. The
// zero value is an empty map ready to use.
type Map[K comparable, V comparable] struct {
	byKey map[K]V
	refs  map[V]*count[K]
}

type count[K comparable] struct {
	key K
	n   int
}

// Acquire adds a holder of k's value, making it with create (and
// reporting created) when k has none.
func (m *Map[K, V]) Acquire(k K, create func() V) (v V, created bool) {
	v, ok := m.byKey[k]
	if !ok {
		if m.byKey == nil {
			m.byKey, m.refs = map[K]V{}, map[V]*count[K]{}
		}
		v, created = create(), true
		m.byKey[k] = v
		m.refs[v] = &count[K]{key: k}
	}
	m.refs[v].n++
	return v, created
}

// Hold adds one more holder of v, which Acquire returned and which has
// not been released by its last holder yet.
func (m *Map[K, V]) Hold(v V) {
	m.refs[v].n++
}

// Release drops one holder of v. On the last it reports last, takes v out
// of its key if v is still the key's value, and reports removed when it
// did.
func (m *Map[K, V]) Release(v V) (last, removed bool) {
	c := m.refs[v]
	c.n--
	if c.n > 0 {
		return false, false
	}
	delete(m.refs, v)
	if cur, ok := m.byKey[c.key]; ok && cur == v {
		delete(m.byKey, c.key)
		return true, true
	}
	return true, false
}

// Refs returns how many hold v (0 once the last has released it).
func (m *Map[K, V]) Refs(v V) int {
	if c := m.refs[v]; c != nil {
		return c.n
	}
	return 0
}

// Forget takes v out of its key if it is still the key's value, so the
// next Acquire of the key makes a new one; v's holders keep it counted.
func (m *Map[K, V]) Forget(v V) {
	c := m.refs[v]
	if c == nil {
		return
	}
	if cur, ok := m.byKey[c.key]; ok && cur == v {
		delete(m.byKey, c.key)
	}
}

// Get returns k's value.
func (m *Map[K, V]) Get(k K) (V, bool) {
	v, ok := m.byKey[k]
	return v, ok
}

// Len returns how many keys have a value.
func (m *Map[K, V]) Len() int { return len(m.byKey) }

// Values returns the keys' values, in no order.
func (m *Map[K, V]) Values() []V {
	return m.AppendValues(make([]V, 0, len(m.byKey)))
}

// AppendValues appends the keys' values to dst, in no order, and returns
// the extended slice: a caller that visits them often reuses one slice.
func (m *Map[K, V]) AppendValues(dst []V) []V {
	for _, v := range m.byKey {
		dst = append(dst, v)
	}
	return dst
}
