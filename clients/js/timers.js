// timers.js — named one-shot timers over injected setTimeout/clearTimeout, so
// a test can drive every delay of the client with a manual clock.

/** Timers keeps at most one pending timer per name. */
export class Timers {
  #setTimeout;
  #clearTimeout;
  #pending = new Map(); // name -> timer id

  /** @param {{setTimeout?: Function, clearTimeout?: Function}} [timers] (default: the global ones) */
  constructor(timers = {}) {
    this.#setTimeout = timers.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.#clearTimeout = timers.clearTimeout ?? ((id) => globalThis.clearTimeout(id));
  }

  /** set runs fn after ms, replacing the pending timer of that name. */
  set(name, ms, fn) {
    this.clear(name);
    this.#pending.set(
      name,
      this.#setTimeout(() => {
        this.#pending.delete(name);
        fn();
      }, ms),
    );
  }

  /** has reports whether the timer of that name is pending. */
  has(name) {
    return this.#pending.has(name);
  }

  /** clear cancels the timer of that name, if any. */
  clear(...names) {
    for (const name of names) {
      if (!this.#pending.has(name)) continue;
      this.#clearTimeout(this.#pending.get(name));
      this.#pending.delete(name);
    }
  }

  /** clearAll cancels every pending timer. */
  clearAll() {
    this.clear(...this.#pending.keys());
  }
}
