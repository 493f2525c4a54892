// Type declarations of @pairpad/client (index.js).

/** An operation: a positive integer retains, a string inserts, a negative integer deletes (UTF-16 code units). */
export type Op = Array<number | string>;

/** A 0-based position; columns count UTF-16 code units. */
export interface Position {
  line: number;
  column: number;
}

export interface Selection {
  start: Position;
  end: Position;
}

export type Language =
  | 'javascript'
  | 'typescript'
  | 'python'
  | 'java'
  | 'go'
  | 'c'
  | 'cpp'
  | 'csharp'
  | 'ruby'
  | 'rust'
  | 'kotlin'
  | 'swift'
  | 'php'
  | 'sql';

export declare const LANGUAGES: readonly Language[];

export declare const Status: Readonly<{
  CONNECTING: 'connecting';
  CONNECTED: 'connected';
  RECONNECTING: 'reconnecting';
  OFFLINE: 'offline';
}>;
export type StatusValue = (typeof Status)[keyof typeof Status];

export declare const SyncPhase: Readonly<{
  DETACHED: 'detached';
  CATCHING_UP: 'catching-up';
  AWAITING_SYNC: 'awaiting-sync';
  LIVE: 'live';
}>;

/** FNV-1a 64-bit of text's UTF-8 bytes as 16 lowercase hex digits: the server's document hash. */
export declare function fnv1a64(text: string): string;

export declare const States: Readonly<{
  SYNCHRONIZED: 'synchronized';
  AWAITING_ACK: 'awaiting-ack';
  AWAITING_WITH_BUFFER: 'awaiting-with-buffer';
}>;
export type StateValue = (typeof States)[keyof typeof States];

/** A session as the REST API returns it. */
export interface Session {
  id: string;
  createdAt: string;
  language: Language;
  participantCount: number;
  [key: string]: unknown;
}

/** A participant's role: candidate (edits the code), interviewer (code, notes, end) or observer (reads the code, writes the notes). */
export type Role = 'candidate' | 'interviewer' | 'observer';

export interface User {
  id: string;
  name: string;
  color: string;
  /** absent when the server did not say (an older server, a token without one: a candidate) */
  role?: Role;
  lastSeen?: string;
}

/** A shared run (the run-output event): as sent, plus who shared it and when the server stored it (unix ms). */
export interface RunOutput {
  runId: string;
  language: Language;
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
  userId?: string;
  userName?: string;
  timestamp?: number;
}

/** One applied update of GET /history. */
export interface HistoryUpdate {
  version: number;
  userId: string;
  userName?: string;
  role?: Role;
  opId?: string;
  timestamp: number;
  ops: Op[];
}

/** The current code (GET /code). */
export interface CurrentCode {
  code: string;
  version: number;
  language: Language;
  updatedAt: string;
}

/** The notes seen as the editor bindings see a client (PairpadClient.notesDocument). */
export interface NotesDocument {
  readonly text: string;
  readonly loaded: boolean;
  readonly cursors: RemoteCursor[];
  readonly language: null;
  readonly users: User[];
  applyLocal(op: Op): string;
  setText(newText: string): string;
  sendCursor(position: Position, selection?: Selection): void;
  on(type: string, fn: (detail: ClientEvents['notes']) => void): () => void;
}

/** A remote participant's cursor in the local text. */
export interface RemoteCursor {
  userId: string;
  name: string;
  color: string;
  index: number;
  position: Position;
  selection: Selection | null;
}

/** The `connected` payload join() resolves with. */
export interface Connected {
  code: string;
  version: number;
  language: Language;
  users: User[];
  role?: Role;
  notes?: string;
  notesVersion?: number;
  lastRun?: RunOutput;
  [key: string]: unknown;
}

export interface ErrorDetail {
  error: string;
  message: string;
  details?: Record<string, unknown>;
}

/** A document hash the server sent that the local document does not match. */
export interface Divergence {
  /** the version the local document had just reached */
  version: number;
  /** the server's hash of its document at that version */
  expected: string;
  /** the hash of what the client held as the server's text */
  actual: string;
  /** the client's divergence count so far, this one included */
  count: number;
  /** 'notes' when the notes diverged (absent for the code) */
  document?: 'notes';
}

/** Local edits the server refused for good (they can never be accepted): the server's text replaced them. */
export interface Refused {
  document: 'code' | 'notes';
  error: string;
  message: string;
  /** the local text before the refused edits were dropped, so the page can offer it to the user */
  text: string;
}

export interface ClientEvents {
  text: { text: string; op: Op; remote: boolean; userId?: string; version?: number; reason?: 'connected' | 'sync' };
  ack: { version: number; opId: string; state: StateValue };
  presence: { users: User[] };
  cursor: { userId: string; cursor: RemoteCursor | null; cursors: RemoteCursor[] };
  language: { language: Language };
  status: { status: StatusValue };
  error: ErrorDetail;
  divergence: Divergence;
  refused: Refused;
  'session-ended': { reason: string };
  notes: { text: string; op: Op; remote: boolean; userId?: string; version?: number; reason?: 'connected' | 'sync' };
  'notes-ack': { version: number; opId: string; state: StateValue };
  run: RunOutput;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export interface ClientOptions {
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
  backoff?: number[];
  cursorInterval?: number;
  idleTimeout?: number;
  catchUpTimeout?: number;
  network?: EventTarget | null;
  online?: () => boolean;
  timers?: Timers;
  now?: () => number;
}

export interface RestOptions {
  fetch?: typeof fetch;
}

export interface CreateSessionOptions extends RestOptions {
  /** up to 120 characters */
  title?: string;
  /** up to 256 KiB; becomes version 1 of the document */
  starterCode?: string;
}

/** The answer of POST /api/sessions: the Session and its host key, shown only here. */
export interface CreatedSession extends Session {
  hostKey: string;
}

export interface JoinOptions {
  /** default candidate; interviewer and observer need hostKey */
  role?: Role;
  hostKey?: string;
}

export declare class PairpadClient extends EventTarget {
  constructor(options?: ClientOptions);
  static createSession(baseUrl: string, language: Language, options?: CreateSessionOptions): Promise<CreatedSession>;
  static getSession(baseUrl: string, sessionId: string, options?: RestOptions): Promise<Session>;
  /** POST .../end with an interviewer's join token or the host key */
  static endSession(baseUrl: string, sessionId: string, credential: string, options?: RestOptions): Promise<Session>;
  static getCode(baseUrl: string, sessionId: string, credential: string, options?: RestOptions): Promise<CurrentCode>;
  /** GET .../code with Accept: text/plain: the text and the file name (main.<ext>) */
  static downloadCode(baseUrl: string, sessionId: string, credential: string, options?: RestOptions): Promise<{ text: string; filename: string | null }>;
  static getNotes(baseUrl: string, sessionId: string, credential: string, options?: RestOptions): Promise<{ notes: string; version: number; updatedAt: string }>;
  /** every update from `from` (default 1) on, all pages */
  static getHistory(baseUrl: string, sessionId: string, credential: string, options?: RestOptions & { from?: number }): Promise<HistoryUpdate[]>;
  on<K extends keyof ClientEvents>(type: K, fn: (detail: ClientEvents[K]) => void): () => void;
  readonly text: string;
  readonly version: number;
  readonly state: StateValue;
  readonly loaded: boolean;
  readonly status: StatusValue;
  /** how many times the local document's hash disagreed with the server's and the text was reloaded */
  readonly divergences: number;
  readonly users: User[];
  readonly language: Language | null;
  readonly sessionId: string | undefined;
  readonly userId: string | undefined;
  readonly cursors: RemoteCursor[];
  /** this participant's role, from `connected` (null before it) */
  readonly role: Role | null;
  /** the last join token: the bearer for /code, /history, /notes and (an interviewer's) /end */
  readonly token: string | null;
  /** whether the notes arrived (interviewers and observers only) */
  readonly hasNotes: boolean;
  readonly notes: string;
  readonly notesVersion: number;
  readonly notesState: StateValue;
  readonly notesDocument: NotesDocument;
  readonly lastRun: RunOutput | null;
  join(baseUrl: string, sessionId: string, userId: string, userName: string, options?: JoinOptions): Promise<Connected>;
  applyNotesLocal(op: Op): string;
  setNotesText(newText: string): string;
  shareRun(run: RunOutput): boolean;
  applyLocal(op: Op): string;
  setText(newText: string): string;
  sendCursor(position: Position, selection?: Selection): void;
  setLanguage(language: Language): boolean;
  requestSync(): void;
  close(): void;
}

export declare class PairpadError extends Error {
  constructor(code: string, message: string, status?: number, details?: Record<string, unknown>);
  code: string;
  status: number;
  details: Record<string, unknown> | undefined;
}

export declare class OTError extends Error {
  constructor(kind: 'malformed' | 'base-length' | 'surrogate', message: string);
  kind: 'malformed' | 'base-length' | 'surrogate';
}

export declare const MAX_COUNT: number;
export declare const MAX_COMPONENTS: number;
export declare function apply(text: string, op: Op): string;
export declare function compose(a: Op, b: Op): Op;
export declare function diff(oldText: string, newText: string): Op;
export declare function normalize(op: Op): Op;
export declare function transform(a: Op, b: Op): [Op, Op];
export declare function transformIndex(op: Op, index: number, own?: boolean): number;
export declare function validate(op: Op): void;
export declare function baseLength(op: Op): number;
export declare function targetLength(op: Op): number;
export declare function isNoop(op: Op): boolean;
export declare function indexToPosition(text: string, index: number): Position;
export declare function positionToIndex(text: string, position: Position): number;

export declare class SyncDocument {
  constructor(text: string, version: number, newOpId: () => string);
  confirmed: string;
  text: string;
  version: number;
  outstanding: { op: Op; opId: string } | null;
  buffer: Op | null;
  readonly state: StateValue;
  readonly hasPending: boolean;
  applyLocal(op: Op): boolean;
  applyRemote(op: Op): Op;
  ack(): boolean;
  rebase(code: string, version: number): Op;
  reset(code: string, version: number): Op;
}

export declare class RemoteCursors {
  set(userId: string, text: string, payload: { position: Position; selection?: Selection }): void;
  retain(present: Set<string>): string[];
  move(op: Op, author: string | null): void;
  describe(userId: string, text: string, users: User[]): RemoteCursor | null;
  all(text: string, users: User[]): RemoteCursor[];
}

export declare function shownText(text: string): string;
export declare function bindTextarea(
  client: PairpadClient,
  textarea: HTMLTextAreaElement,
  options?: { shareCursor?: boolean },
): { destroy(): void };
