// cursors.js — the other participants' cursors, kept as offsets into the
// local text so they stay on the same characters while ops change it.

import { transformIndex } from './ot.js';
import { indexToPosition, positionToIndex } from './position.js';

/** RemoteCursors maps user ids to cursor offsets (and selections) in a text. */
export class RemoteCursors {
  constructor() {
    this.byUser = new Map(); // userId -> {index, selection: {start, end} | null}
  }

  /** set places userId's cursor from the protocol's {position, selection?} in text. */
  set(userId, text, payload) {
    const c = { index: positionToIndex(text, payload.position), selection: null };
    const sel = payload.selection;
    if (sel && sel.start && sel.end) c.selection = { start: positionToIndex(text, sel.start), end: positionToIndex(text, sel.end) };
    this.byUser.set(userId, c);
  }

  /** retain drops the cursors of users not in present (a Set) and returns their ids. */
  retain(present) {
    const gone = [...this.byUser.keys()].filter((id) => !present.has(id));
    for (const id of gone) this.byUser.delete(id);
    return gone;
  }

  /**
   * move keeps every cursor on the same text when op changes it; author is
   * the user whose edit op is (their own insert pushes their caret along).
   */
  move(op, author) {
    for (const [userId, c] of this.byUser) {
      const own = userId === author;
      c.index = transformIndex(op, c.index, own);
      if (c.selection) c.selection = { start: transformIndex(op, c.selection.start, own), end: transformIndex(op, c.selection.end, own) };
    }
  }

  /** describe returns userId's cursor in text with its owner's name and colour, or null. */
  describe(userId, text, users) {
    const c = this.byUser.get(userId);
    if (!c) return null;
    const user = users.find((u) => u.id === userId);
    return {
      userId,
      name: user ? user.name : userId,
      color: user ? user.color : '#888888',
      index: c.index,
      position: indexToPosition(text, c.index),
      selection: c.selection ? { start: indexToPosition(text, c.selection.start), end: indexToPosition(text, c.selection.end) } : null,
    };
  }

  /** all describes every cursor. */
  all(text, users) {
    return [...this.byUser.keys()].map((id) => this.describe(id, text, users));
  }
}
