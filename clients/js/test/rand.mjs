// rand.mjs — a small seeded random generator and random texts and ops for
// property tests, so every failure can be replayed from its seed.

/** mulberry32 returns a function giving floats in [0, 1) from seed. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rand wraps a seeded generator with the draws the tests need. */
export class Rand {
  constructor(seed) {
    this.next = mulberry32(seed);
  }

  int(n) {
    return Math.floor(this.next() * n);
  }

  pick(items) {
    return items[this.int(items.length)];
  }

  bool() {
    return this.next() < 0.5;
  }
}

/** ATOMS are the characters random texts are made of, surrogate pairs included. */
export const ATOMS = ['a', 'b', 'z', ' ', '\n', '\t', '😀', '😁', '👍', '👨\u200d👩\u200d👧', 'e\u0301', '中', 'é'];

/** text draws a text of up to max atoms. */
export function randomText(r, max) {
  let s = '';
  for (let n = r.int(max + 1); n > 0; n--) s += r.pick(ATOMS);
  return s;
}

// units lists the UTF-16 length of each code point of s.
function units(s) {
  return Array.from(s, (c) => c.length);
}

/** randomOp draws a valid op on text whose boundaries never split a surrogate pair. */
export function randomOp(r, text, maxInsert = 3) {
  const u = units(text);
  const op = [];
  for (let i = 0; ; ) {
    if (i === u.length) {
      if (r.bool()) {
        const s = randomText(r, maxInsert);
        if (s) op.push(s);
      }
      return op;
    }
    const kind = r.int(4);
    if (kind === 0) {
      const s = randomText(r, maxInsert);
      if (s) op.push(s);
      continue;
    }
    const k = 1 + r.int(Math.min(u.length - i, 5));
    let n = 0;
    for (let j = i; j < i + k; j++) n += u[j];
    i += k;
    op.push(kind === 2 ? -n : n);
  }
}
