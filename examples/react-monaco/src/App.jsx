import { useEffect, useState } from 'react';
import { PairpadClient, LANGUAGES } from '@pairpad/client';
import { CodeEditor } from './CodeEditor.jsx';

// The pairpad server: ?server=<url> in the page's address, else VITE_PAIRPAD_URL
// at build time, else the all-in-one's default address. Its FRONTEND_URL must
// list this page's origin.
const params = new URLSearchParams(location.search);
const SERVER = params.get('server') || import.meta.env.VITE_PAIRPAD_URL || 'http://localhost:3001';

// A user id per tab (two tabs are two people) and the name remembered.
function userId() {
  let id = sessionStorage.getItem('pairpad-user');
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    id = 'u-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    sessionStorage.setItem('pairpad-user', id);
  }
  return id;
}

// The interviewer's host key for a session: kept in the tab that created it,
// or carried by an observer link in the address's fragment (#observe=<key>),
// which browsers never send to a server.
function hostKeyFor(sessionId) {
  const observe = new URLSearchParams(location.hash.slice(1)).get('observe');
  if (observe) return { role: 'observer', hostKey: observe };
  const key = sessionStorage.getItem(`pairpad-host-${sessionId}`);
  return key ? { role: 'interviewer', hostKey: key } : { role: 'candidate' };
}

export function App() {
  const [sessionId, setSessionId] = useState(params.get('session') || '');
  const [name, setName] = useState(localStorage.getItem('pairpad-name') || '');
  const [language, setLanguage] = useState('python');
  const [client, setClient] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const start = async (create) => {
    setBusy(true);
    setError(null);
    const who = name.trim() || 'Anonymous';
    localStorage.setItem('pairpad-name', who);
    try {
      let id = sessionId;
      if (create) {
        // The creator is the interviewer: the host key comes in this answer only.
        const session = await PairpadClient.createSession(SERVER, language);
        id = session.id;
        sessionStorage.setItem(`pairpad-host-${id}`, session.hostKey);
        const url = new URL(location.href);
        url.searchParams.set('session', id);
        history.replaceState(null, '', url);
        setSessionId(id);
      }
      const c = new PairpadClient();
      await c.join(SERVER, id, userId(), who, hostKeyFor(id));
      window.pairpad = c; // for the console and the browser tests
      setClient(c);
    } catch (err) {
      setError({ error: err.code || 'ERROR', message: err.message });
    } finally {
      setBusy(false);
    }
  };

  if (client) return <Session client={client} hostKey={hostKeyFor(sessionId).hostKey} />;
  return (
    <main className="start">
      <h1>pairpad · React + Monaco</h1>
      <label>
        Your name <input id="name" value={name} onChange={(e) => setName(e.target.value)} autoFocus />
      </label>
      {sessionId ? (
        <button id="join" disabled={busy} onClick={() => start(false)}>
          Join session
        </button>
      ) : (
        <div className="row">
          <select id="new-language" value={language} onChange={(e) => setLanguage(e.target.value)}>
            {LANGUAGES.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
          <button id="create" disabled={busy} onClick={() => start(true)}>
            Create session
          </button>
        </div>
      )}
      {error && <Alert error={error} />}
    </main>
  );
}

// end ends the interview for everyone (the host key is the interviewer's
// credential); every page, this one too, then gets session-ended.
async function end(client, hostKey, setError) {
  try {
    await PairpadClient.endSession(SERVER, client.sessionId, hostKey);
  } catch (err) {
    setError({ error: err.code || 'ERROR', message: err.message });
  }
}

// link is the session's address without the fragment: the candidate's link.
function link() {
  const url = new URL(location.href);
  url.hash = '';
  return url.href;
}

function Alert({ error }) {
  return (
    <p className="alert" data-code={error.error} role="alert">
      {error.message}
    </p>
  );
}

function Session({ client, hostKey }) {
  const [status, setStatus] = useState(client.status);
  const [users, setUsers] = useState(client.users);
  const [language, setLanguage] = useState(client.language);
  const [error, setError] = useState(null);

  useEffect(() => {
    const offs = [
      client.on('status', (d) => setStatus(d.status)),
      client.on('presence', (d) => setUsers(d.users)),
      client.on('language', (d) => setLanguage(d.language)),
      client.on('error', (d) => setError(d)),
      client.on('session-ended', (d) => setError({ error: 'SESSION_ENDED', message: d.reason === 'ended' ? 'The interview has ended.' : `The session was ${d.reason}.` })),
    ];
    setStatus(client.status);
    setUsers(client.users);
    setLanguage(client.language);
    return () => offs.forEach((off) => off());
  }, [client]);

  return (
    <main className="session">
      <header>
        <strong>pairpad</strong>
        <select id="language" value={language || ''} disabled={client.role === 'observer'} onChange={(e) => client.setLanguage(e.target.value)}>
          {LANGUAGES.map((l) => (
            <option key={l}>{l}</option>
          ))}
        </select>
        <ul id="people">
          {users.map((u) => (
            <li key={u.id} title={u.id}>
              <span className="dot" style={{ background: u.color }} />
              {u.name}
              {u.role && u.role !== 'candidate' ? ` · ${u.role}` : ''}
              {u.id === client.userId ? ' (you)' : ''}
            </li>
          ))}
        </ul>
        <span id="status" data-status={status}>
          {status}
        </span>
        <label>
          Candidate link <input id="share" readOnly value={link()} onFocus={(e) => e.target.select()} />
        </label>
        {client.role === 'interviewer' && hostKey && (
          <>
            <label>
              Observer link <input id="observer-link" readOnly value={`${link()}#observe=${hostKey}`} onFocus={(e) => e.target.select()} />
            </label>
            <button id="end" disabled={status === 'offline'} onClick={() => end(client, hostKey, setError)}>
              End interview
            </button>
          </>
        )}
      </header>
      {error && <Alert error={error} />}
      <CodeEditor client={client} />
    </main>
  );
}
