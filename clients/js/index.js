// index.js — the entry of @pairpad/client: the client, the OT algebra, the
// document state machine and the helpers, as plain ES modules with no
// dependencies. The editor bindings are separate entries
// (@pairpad/client/codemirror, @pairpad/client/monaco) so the core never
// pulls an editor in.

export { PairpadClient, LANGUAGES, Status, SyncPhase } from './client.js';
export { fnv1a64 } from './hash.js';
export { PairpadError } from './rest.js';
export { indexToPosition, positionToIndex } from './position.js';
export { SyncDocument, States } from './document.js';
export { RemoteCursors } from './cursors.js';
export {
  OTError,
  MAX_COUNT,
  MAX_COMPONENTS,
  apply,
  compose,
  diff,
  normalize,
  transform,
  transformIndex,
  validate,
  baseLength,
  targetLength,
  isNoop,
} from './ot.js';
export { bindTextarea, shownText } from './textarea.js';
