// Switchboard team page. Plain JavaScript, no build step.
//
// The page is a client of the HTTP API: it signs in with POST
// /api/v1/session (a session cookie), follows presence over Server-Sent
// Events (/api/v1/presence/events: a snapshot, then one event per change)
// and changes only the rows an event names, so a team of hundreds stays
// smooth.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  const STATUS_TEXT = { available: 'Available', busy: 'Busy', dnd: 'DND' };
  const STATUS_LONG = { available: 'Available', busy: 'Busy', dnd: 'Do not disturb' };
  const GREETINGS = {
    dnd: { title: 'Do not disturb', when: 'Played when your status is DND.' },
    busy: { title: 'Busy', when: 'Played when you are on another call.' },
    no_answer: { title: 'No answer', when: 'Played when you do not pick up in time.' },
  };
  const SOURCE_TEXT = {
    uploaded: 'Your recording',
    configured: 'Set by your administrator',
    builtin: 'Built-in prompt',
  };
  const VOICEMAIL_POLL_MS = 10000;
  const QUEUES_POLL_MS = 5000;
  // The Calls view (admins) asks for the calls in progress this often while it is on screen:
  // a small list, few admins, and no stream to keep open or resume.
  const CALLS_POLL_MS = 2000;
  // What sending the call to a colleague in each status does: the same status routing as a new
  // call (the spec's "Redirecting calls"), so the user knows before clicking.
  const TRANSFER_HINT = {
    available: (n) => `${n} is available: their phones ring.`,
    busy: (n) => `${n} is on a call: the caller hears their busy greeting and waits on hold.`,
    dnd: (n) => `${n} is on Do not disturb: the caller hears their greeting and goes to voicemail.`,
  };
  // How each DND change came about, as the history of changes says it.
  const CHANGE_HOW = {
    user: 'on the page', admin: 'by an administrator', feature_code: 'with *78/*79',
    phone_key: "with the phone's DND key", publish: 'from a phone', screening: 'while screening a call',
    schedule: 'by working hours', auto_pause: 'by auto-pause', expiry: 'when its time ran out',
  };
  const OUTCOME_TEXT = {
    answered: 'Answered', voicemail: 'Voicemail', missed: 'Missed', rejected: 'Refused',
    abandoned: 'Caller hung up', feature: 'Feature code', callback: 'Caller asked to be called back',
  };
  const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'],
    ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];
  const CALL_STATE_TEXT = {
    ringing: 'Ringing', talking: 'Talking', held: 'On hold', queued: 'Queued',
    voicemail: 'Voicemail', screening: 'Screening',
  };

  // /phone is the web phone in a window of its own (or installed as an app): the phone, the
  // user's status and the team to call, without the other tabs.
  const phoneOnly = location.pathname === '/phone';

  // Everything that belongs to the signed-in user; reset at sign-out.
  let session = null;

  function newSession(me) {
    return {
      me,
      rows: new Map(), // ext → row (see makeRow)
      mine: null, // my presence
      es: null, // EventSource
      retries: 0,
      timers: new Set(),
      vm: new Map(), // id → voicemail item
      vmLoading: false,
      vmPoll: false,
      calls: new Map(), // id → call row (see makeCall)
      callsLoading: false,
      callbacksServed: true, // false once the server answers 404 for /api/v1/callbacks
      myCall: null, // my call that can be sent on (talking), from GET /api/v1/calls; null if none
      myCallPoll: false, // polling GET /api/v1/calls while I am on a call
      myCallLoading: false,
      handedOff: new Set(), // ids of calls I transferred whose end has not been seen yet
      callsServed: true, // false once the server answers 404: it has no calls API
      ended: false,
    };
  }

  // ---- HTTP ---------------------------------------------------------------

  class APIError extends Error {
    constructor(status, message, retryAfter, field) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
      this.field = field || ''; // the request field a 400 names ("until", "week.mon[0]")
    }
  }

  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (body instanceof Blob) {
      init.body = body;
      init.headers['Content-Type'] = body.type || 'audio/wav';
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new APIError(0, 'Switchboard cannot be reached. Check your connection.');
    }
    let data = null;
    if ((res.headers.get('Content-Type') || '').startsWith('application/json')) {
      data = await res.json().catch(() => null);
    }
    if (!res.ok) {
      const msg = (data && data.error) || res.statusText || 'request failed';
      const err = new APIError(res.status, msg, Number(res.headers.get('Retry-After')) || 0, data && data.field);
      if (res.status === 401 && session && path !== '/api/v1/session') {
        signedOut('Your session has ended. Please sign in again.');
      }
      throw err;
    }
    return data;
  }

  // ---- small helpers -----------------------------------------------------

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else if (k in e && typeof v !== 'string') e[k] = v;
        else e.setAttribute(k, v);
      }
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  let toastTimer = 0;
  // fieldErrors ties a form's inputs to the request fields a 400 may name ("time_zone",
  // "week.mon[0]", "ext"): clear() before a request; show(e) after a refused one marks the input
  // named and puts the message in the box beside it, or in the form's own error line (general)
  // when no input or box matches. Every form that the API checks shows its errors this way.
  function fieldErrors(general) {
    const fields = new Map(); // request field → { input, box }
    return {
      add(field, input, box) {
        fields.set(field, { input, box });
        if (box && box.id) input.setAttribute('aria-describedby', box.id);
      },
      clear() {
        for (const f of fields.values()) {
          f.input.removeAttribute('aria-invalid');
          if (f.box) f.box.textContent = '';
        }
        general.hidden = true;
      },
      show(e, field = e.field) {
        const f = fields.get(field);
        if (f) f.input.setAttribute('aria-invalid', 'true');
        if (f && f.box) {
          f.box.textContent = e.message.replace(/^[^:]+: /, '');
        } else {
          general.textContent = e.message;
          general.hidden = false;
        }
      },
    };
  }

  function toast(msg, kind) {
    const t = $('toast');
    t.textContent = msg;
    t.dataset.kind = kind || 'info';
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  // later runs fn after ms, unless the session has ended by then.
  function later(fn, ms) {
    const s = session;
    if (!s) return;
    const id = setTimeout(() => { s.timers.delete(id); if (!s.ended) fn(); }, ms);
    s.timers.add(id);
  }

  function initials(name, ext) {
    const words = (name || '').trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) return ext.slice(-2);
    return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : '')).toUpperCase();
  }

  function duration(ms) {
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  function setPill(pill, status) {
    pill.dataset.status = status;
    pill.querySelector('.pill-text').textContent = STATUS_TEXT[status] || status;
    pill.title = STATUS_LONG[status] || status;
  }

  function makePill() {
    return el('span', { class: 'pill' }, el('span', { class: 'dot', 'aria-hidden': 'true' }), el('span', { class: 'pill-text' }));
  }

  function hints(st) {
    const h = [];
    if (st.dnd && st.reason) h.push(st.reason);
    if (st.dnd && st.until) h.push('until ' + timeText(st.until));
    if (st.on_call) h.push('on a call');
    if (!st.registered) h.push('no phone registered');
    return h.join(' · ');
  }

  const timeFmt = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

  // timeText is a time as a person reads it: the clock time today, else the date and time.
  function timeText(iso) {
    const d = new Date(iso);
    return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dateFmt.format(d);
  }

  // untilValue turns a choice into the API's "until": a duration passes as it is; "tomorrow"
  // is tomorrow at 8:00 on this computer's clock.
  function untilValue(choice) {
    if (choice !== 'tomorrow') return choice;
    const d = new Date();
    d.setDate(d.getDate() + 1);
    d.setHours(8, 0, 0, 0);
    return d.toISOString();
  }

  // ---- sign-in -----------------------------------------------------------

  function showSignIn(message) {
    $('loading').hidden = true;
    $('app').hidden = true;
    $('signin').hidden = false;
    const err = $('signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('signin-password').value = '';
    ($('signin-ext').value ? $('signin-password') : $('signin-ext')).focus();
  }

  async function onSignIn(ev) {
    ev.preventDefault();
    const ext = $('signin-ext').value.trim();
    const password = $('signin-password').value;
    const err = $('signin-error');
    if (!ext || !password) {
      err.textContent = 'Enter your extension and password.';
      err.hidden = false;
      return;
    }
    const button = $('signin-button');
    button.disabled = true;
    try {
      const me = await api('POST', '/api/v1/session', { ext, password });
      err.hidden = true;
      start(me);
    } catch (e) {
      if (e.status === 401) {
        err.textContent = 'Wrong extension or password. Please try again.';
      } else if (e.status === 429) {
        err.textContent = `Too many failed sign-ins. Please wait ${e.retryAfter || 'a few'} seconds and try again.`;
      } else {
        err.textContent = e.message;
      }
      err.hidden = false;
      $('signin-password').value = '';
      $('signin-password').focus();
    } finally {
      button.disabled = false;
    }
  }

  function stop() {
    if (!session) return;
    session.ended = true;
    if (session.es) session.es.close();
    for (const id of session.timers) clearTimeout(id);
    session = null;
    document.dispatchEvent(new CustomEvent('switchboard:signedout'));
    $('team').replaceChildren();
    $('vm-list').replaceChildren();
    $('greetings').replaceChildren();
    $('queues').replaceChildren();
    $('calls').replaceChildren();
    $('tab-calls').hidden = true;
    $('tab-directory').hidden = true;
    $('add-user').hidden = true;
    $('my-call').hidden = true;
    $('filter').value = '';
  }

  function signedOut(message) {
    stop();
    showSignIn(message);
  }

  async function onSignOut() {
    try {
      await api('DELETE', '/api/v1/session');
    } catch (e) {
      // The cookie is gone or the server is; either way show the form.
    }
    signedOut('');
  }

  // ---- the app -----------------------------------------------------------

  function start(me) {
    stop();
    session = newSession(me);
    $('loading').hidden = true;
    $('signin').hidden = true;
    $('app').hidden = false;
    $('me-name').textContent = me.name || me.ext;
    $('me-ext').textContent = me.ext;
    $('summary').textContent = '';
    $('tab-calls').hidden = !me.admin; // only an admin sees (and may hang up) every call
    $('tab-directory').hidden = !me.admin; // groups, queues and trunks are the admins' to change
    $('add-user').hidden = !me.admin;
    selectTab(phoneOnly ? $('tab-team') : tabFromHash(), false);
    document.dispatchEvent(new CustomEvent('switchboard:signedin', { detail: me }));
    connect();
    loadVoicemail();
    loadGreetings();
    loadHours();
    loadQueues();
    pollMyCallbacks();
    if (me.admin) pollCalls();
  }

  // ---- tabs --------------------------------------------------------------

  function tabs() {
    return [...document.querySelectorAll('[role="tab"]')].filter((t) => !t.hidden);
  }

  function tabFromHash() {
    const id = 'tab-' + location.hash.slice(1);
    const t = document.getElementById(id);
    return t && t.getAttribute('role') === 'tab' && !t.hidden ? t : $('tab-team');
  }

  function selectTab(tab, focus) {
    // A page without a tab of its own (User Settings, settings.js) gives way to any tab.
    for (const p of document.querySelectorAll('.panel[data-tabless]')) p.hidden = true;
    for (const t of document.querySelectorAll('[role="tab"]')) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.dataset.panel).hidden = !on;
    }
    if (focus) tab.focus();
    const name = tab.id.slice(4);
    history.replaceState(null, '', name === 'team' ? location.pathname : '#' + name);
    if (name === 'voicemail' && session) loadVoicemail();
    if (name === 'calls' && session) loadCalls();
    if (name === 'history' && session) loadHistory();
  }

  function onTabKey(ev) {
    const list = tabs();
    const i = list.indexOf(ev.target);
    let next = null;
    if (ev.key === 'ArrowRight') next = list[(i + 1) % list.length];
    else if (ev.key === 'ArrowLeft') next = list[(i - 1 + list.length) % list.length];
    else if (ev.key === 'Home') next = list[0];
    else if (ev.key === 'End') next = list[list.length - 1];
    if (next) {
      ev.preventDefault();
      selectTab(next, true);
    }
  }

  // ---- presence: live over Server-Sent Events ----------------------------

  function setLive(live, text) {
    const l = $('live');
    l.dataset.live = String(live);
    l.textContent = text || (live ? 'Live' : 'Reconnecting…');
  }

  function connect() {
    const s = session;
    const es = new EventSource('/api/v1/presence/events');
    s.es = es;
    es.addEventListener('snapshot', (e) => {
      s.retries = 0;
      applySnapshot(JSON.parse(e.data));
      setLive(true);
    });
    es.addEventListener('message', (e) => applyChange(JSON.parse(e.data)));
    es.addEventListener('error', () => {
      if (s.ended) return;
      setLive(false);
      // While the browser reconnects by itself (readyState CONNECTING)
      // there is nothing to do. CLOSED means it gave up: the server
      // refused the stream (a 401 after a restart ended the session, say).
      if (es.readyState !== EventSource.CLOSED) return;
      es.close();
      s.es = null;
      reconnectLater(s);
    });
  }

  // reconnectLater opens a new stream after a growing pause (1 s, 2 s, 4 s
  // … 30 s, with jitter so a restarted server is not hit by every page at
  // once), first asking who we are: a 401 there shows the sign-in form.
  function reconnectLater(s) {
    const delay = Math.min(30000, 1000 * 2 ** s.retries) * (0.75 + Math.random() / 2);
    s.retries++;
    later(async () => {
      try {
        await api('GET', '/api/v1/me');
        connect();
      } catch (err) {
        if (err.status !== 401) reconnectLater(s);
      }
    }, delay);
  }

  function applySnapshot(list) {
    const s = session;
    const seen = new Set();
    const frag = document.createDocumentFragment();
    for (const st of list) {
      seen.add(st.ext);
      let row = s.rows.get(st.ext);
      if (!row) {
        row = makeRow(st);
        s.rows.set(st.ext, row);
      }
      frag.append(row.li); // moves existing rows into the snapshot's order
      updateRow(row, st);
    }
    for (const [ext, row] of s.rows) {
      if (!seen.has(ext)) {
        row.li.remove();
        s.rows.delete(ext);
      }
    }
    $('team').append(frag);
    applyFilter();
    updateSummary();
  }

  function applyChange(st) {
    const s = session;
    let row = s.rows.get(st.ext);
    if (st.removed) {
      // An admin removed the user: their row goes.
      if (row) {
        row.li.remove();
        s.rows.delete(st.ext);
        applyFilter();
        updateSummary();
      }
      return;
    }
    if (!row) {
      row = makeRow(st);
      s.rows.set(st.ext, row);
      $('team').append(row.li);
      filterRow(row, currentFilter());
    }
    const was = row.st;
    updateRow(row, st);
    updateSummary();
    if (st.ext === s.me.ext && was && was.on_call && !st.on_call) {
      loadVoicemail(); // a call just ended: a message may have come in meanwhile
    }
  }

  function makeRow(st) {
    const s = session;
    const mine = st.ext === s.me.ext;
    const pill = makePill();
    const name = el('div', { class: 'name' });
    const meta = el('div', { class: 'ext' });
    const avatar = el('span', { class: 'avatar', 'aria-hidden': 'true' });
    const control = el('div', { class: 'control' });
    const li = el('li', { class: 'row', 'data-ext': st.ext },
      avatar,
      el('div', { class: 'who' }, name, meta),
      el('div', { class: 'state' }, pill),
      control);
    const row = { li, pill, name, meta, avatar, control, input: null, xfer: null, call: null, st: null, key: '' };
    if (!mine) {
      // Click to call from the web phone (phone.js).
      const call = el('button', { type: 'button', class: 'button small row-call', text: 'Call' });
      call.addEventListener('click', () =>
        document.dispatchEvent(new CustomEvent('switchboard:call', { detail: { ext: st.ext } })));
      control.append(call);
      row.call = call;
      // Shown only while I am on a call I can send on (updateTransfer).
      const xfer = el('button', { type: 'button', class: 'button small row-transfer', text: 'Transfer' });
      const vm = el('button', { type: 'button', class: 'button small row-to-voicemail', text: 'To voicemail' });
      xfer.addEventListener('click', () => transferTo(st.ext, false, xfer));
      vm.addEventListener('click', () => transferTo(st.ext, true, vm));
      const box = el('div', { class: 'row-transfer-actions', role: 'group', hidden: true }, xfer, vm);
      control.append(box);
      row.xfer = { box, xfer, vm };
    }
    if (s.me.admin && !mine) {
      const input = el('input', { type: 'checkbox', role: 'switch', class: 'row-dnd' });
      input.addEventListener('change', () => setStatus(st.ext, input.checked, input));
      const label = el('label', { class: 'switch small' },
        input,
        el('span', { class: 'track', 'aria-hidden': 'true' }, el('span', { class: 'thumb' })),
        el('span', { class: 'switch-text', 'aria-hidden': 'true' }, 'DND'));
      control.append(label);
      row.input = input;
    }
    if (s.me.admin) {
      // The user's User Settings page (settings.js).
      const edit = el('button', { type: 'button', class: 'button small row-edit', text: 'Edit' });
      edit.addEventListener('click', () =>
        document.dispatchEvent(new CustomEvent('switchboard:edit-user', { detail: { ext: st.ext } })));
      control.append(edit);
      row.edit = edit;
    }
    return row;
  }

  function updateRow(row, st) {
    row.st = st;
    const mine = st.ext === session.me.ext;
    row.li.dataset.status = st.status;
    setPill(row.pill, st.status);
    row.name.textContent = st.name || st.ext;
    if (mine) row.name.append(el('span', { class: 'you', text: ' (you)' }));
    const hint = hints(st);
    row.meta.textContent = st.ext + (hint ? ' · ' : '');
    if (hint) row.meta.append(el('span', { class: 'hint', text: hint }));
    row.avatar.textContent = initials(st.name, st.ext);
    row.key = (st.name + ' ' + st.ext).toLowerCase();
    if (row.call) {
      row.call.setAttribute('aria-label', `Call ${st.name || st.ext} (${st.ext}), ${STATUS_LONG[st.status] || st.status}`);
    }
    if (row.edit) row.edit.setAttribute('aria-label', `Edit ${st.name || st.ext} (${st.ext})`);
    if (row.input) {
      row.input.checked = st.dnd;
      row.input.setAttribute('aria-label', `Do not disturb for ${st.name || st.ext} (${st.ext})`);
    }
    updateTransfer(row);
    if (mine) updateMine(st);
  }

  function updateMine(st) {
    session.mine = st;
    setPill($('me-pill'), st.status);
    const sw = $('dnd-switch');
    if (!sw.disabled) sw.checked = st.dnd;
    const pillText = $('me-pill').querySelector('.pill-text');
    if (st.on_call) pillText.textContent = st.dnd ? 'DND · on a call' : 'Busy · on a call';
    const note = [];
    if (st.dnd && st.reason) note.push(st.reason);
    if (st.dnd && st.until) note.push('until ' + timeText(st.until));
    if (st.dnd && st.source && st.source !== 'user') note.push(changeHow(st));
    $('me-note').textContent = note.join(' · ');
    if (st.on_call) watchMyCall();
    else setMyCall(null);
  }

  function updateSummary() {
    const counts = { available: 0, busy: 0, dnd: 0 };
    for (const row of session.rows.values()) counts[row.st.status] = (counts[row.st.status] || 0) + 1;
    const n = session.rows.size;
    $('summary').textContent =
      `${n} ${n === 1 ? 'person' : 'people'} · ${counts.available} available · ${counts.busy} busy · ${counts.dnd} DND`;
  }

  // ---- filter ------------------------------------------------------------

  function currentFilter() {
    return $('filter').value.trim().toLowerCase();
  }

  function filterRow(row, q) {
    row.li.hidden = q !== '' && !row.key.includes(q);
  }

  function applyFilter() {
    if (!session) return;
    const q = currentFilter();
    let shown = 0;
    for (const row of session.rows.values()) {
      filterRow(row, q);
      if (!row.li.hidden) shown++;
    }
    $('team-empty').hidden = shown > 0 || session.rows.size === 0;
  }

  let filterTimer = 0;
  function onFilter() {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilter, 80);
  }

  // ---- setting a status --------------------------------------------------

  async function setStatus(ext, dnd, input) {
    input.disabled = true;
    try {
      const st = await api('PUT', `/api/v1/presence/${encodeURIComponent(ext)}`, { status: dnd ? 'dnd' : 'available' });
      input.disabled = false;
      if (!session) return;
      const row = session.rows.get(ext);
      if (row) updateRow(row, st);
      if (ext !== session.me.ext) toast(st.status === 'dnd'
        ? `${st.name || ext} is now on Do not disturb.`
        : `${st.name || ext} is now ${STATUS_LONG[st.status].toLowerCase()}.`);
    } catch (e) {
      input.disabled = false;
      input.checked = !dnd;
      if (e.status !== 401) toast(`Could not change the status: ${e.message}`, 'error');
    }
  }

  // changeHow says who or what made a DND change: "set by Alice (1001)", "by working hours".
  function changeHow(c) {
    if (c.source === 'admin' && c.by) return 'set by ' + who(c.by);
    return CHANGE_HOW[c.source] || c.source || '';
  }

  // quickDND turns my DND on with a reason and an end from the menu.
  async function quickDND(reason, until, errorBox) {
    const body = { status: 'dnd' };
    if (reason) body.reason = reason;
    if (until) body.until = untilValue(until);
    try {
      const st = await api('PUT', `/api/v1/presence/${encodeURIComponent(session.me.ext)}`, body);
      const row = session.rows.get(st.ext);
      if (row) updateRow(row, st);
      $('dnd-menu').open = false;
      if (errorBox) errorBox.hidden = true;
      toast(st.until ? `Do not disturb until ${timeText(st.until)}.` : 'Do not disturb is on.');
    } catch (e) {
      if (e.status === 401) return;
      if (errorBox) {
        errorBox.textContent = e.message;
        errorBox.hidden = false;
        const input = e.field === 'reason' ? $('dnd-reason') : e.field === 'until' ? $('dnd-until') : null;
        if (input) input.setAttribute('aria-invalid', 'true');
      } else {
        toast(`Could not change the status: ${e.message}`, 'error');
      }
    }
  }

  // ---- history: calls (and why a phone did not ring) and status changes ---

  async function loadHistory() {
    const s = session;
    let calls, changes;
    try {
      [calls, changes] = await Promise.all([
        api('GET', '/api/v1/history?limit=50'),
        api('GET', `/api/v1/presence/${encodeURIComponent(s.me.ext)}/history?limit=20`),
      ]);
    } catch (e) {
      if (e.status === 404) $('tab-history').hidden = true;
      else if (e.status !== 401) toast(`Could not load the history: ${e.message}`, 'error');
      return;
    }
    if (s.ended) return;
    const list = $('call-history');
    list.replaceChildren(...(calls || []).map(makeHistoryCall));
    $('call-history-empty').hidden = list.children.length > 0;
    const cl = $('status-history');
    cl.replaceChildren(...(changes || []).map(makeChange));
    $('status-history-empty').hidden = cl.children.length > 0;
  }

  function makeHistoryCall(r) {
    const s = session;
    let text = OUTCOME_TEXT[r.outcome] || r.outcome;
    if (r.outcome === 'answered' && r.answered_by && r.answered_by !== r.to) text += ' by ' + who(r.answered_by);
    if (r.outcome === 'voicemail' && r.voicemail) text += ' of ' + who(r.voicemail);
    const why = (r.skipped || []).filter((k) => s.me.admin || k.ext === s.me.ext).map((k) => whyText(k, s.me.ext));
    if (why.length === 0 && r.to === s.me.ext && r.from !== s.me.ext && (r.outcome === 'voicemail' || r.outcome === 'missed')) {
      why.push('Your phone rang and was not answered in time.');
    }
    return el('li', { class: 'history-item', 'data-id': r.id, 'data-outcome': r.outcome },
      el('div', { class: 'history-main' },
        el('span', { class: 'history-who', text: `${who(r.from)} → ${who(r.to)}` }),
        el('span', { class: 'history-outcome', text }),
        el('time', { class: 'muted', datetime: r.started || r.ended, text: timeText(r.started || r.ended) })),
      why.length ? el('ul', { class: 'history-why' }, ...why.map((w) => el('li', { text: w }))) : null);
  }

  // whyText explains, in words, why a user's phone did not ring: to them ("You were…") or,
  // for an admin, about them.
  function whyText(k, me) {
    const mine = k.ext === me;
    const subject = mine ? 'You were' : `${who(k.ext)} was`;
    let text;
    if (k.why === 'dnd') {
      text = `${subject} on DND`;
      const set = [];
      if (k.reason) set.push(`“${k.reason}”`);
      if (k.by && k.by !== k.ext) set.push(`set by ${who(k.by)}`);
      else if (k.source && k.source !== 'user' && CHANGE_HOW[k.source]) set.push(CHANGE_HOW[k.source]);
      else if (k.by) set.push(mine ? 'set by you' : 'set by themselves');
      let detail = set.join(', ');
      if (k.at) detail += `${detail ? ' ' : ''}at ${timeText(k.at)}`;
      if (detail) text += ` (${detail})`;
    } else if (k.why === 'on_call') {
      text = `${subject} on another call`;
    } else {
      text = mine ? 'Your phone was not registered' : `${who(k.ext)}'s phone was not registered`;
    }
    if (k.via) text = `Skipped in ${k.via_name || k.via}: ${text[0].toLowerCase()}${text.slice(1)}`;
    return text + '.';
  }

  function makeChange(c) {
    let text = c.status === 'dnd' ? 'Do not disturb' : 'Available';
    if (c.reason) text += ` · ${c.reason}`;
    if (c.until) text += ` · until ${timeText(c.until)}`;
    let how = changeHow(c);
    if (c.source === 'user' && c.by && c.by !== session.me.ext) how = 'by ' + who(c.by);
    return el('li', { class: 'history-item', 'data-source': c.source || '' },
      el('div', { class: 'history-main' },
        el('span', { class: 'history-who', text }),
        el('span', { class: 'history-outcome', text: how }),
        el('time', { class: 'muted', datetime: c.at, text: timeText(c.at) })));
  }

  // ---- working hours ------------------------------------------------------

  async function loadHours() {
    const s = session;
    let h = null;
    try {
      h = await api('GET', `/api/v1/users/${encodeURIComponent(s.me.ext)}/hours`);
    } catch (e) {
      if (e.status !== 404) return;
    }
    if (!s.ended) renderHours(h);
  }

  // renderHours is the working-hours form: one span a day (the API takes more), the time
  // zone, holidays; each problem the server names is shown beside its field.
  function renderHours(h) {
    const box = $('hours');
    const zone = el('input', { id: 'hours-zone', value: (h && h.time_zone) || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC' });
    const errors = el('p', { class: 'form-error', id: 'hours-error', role: 'alert', hidden: true });
    const fields = fieldErrors(errors);
    fields.add('time_zone', zone);
    const rows = DAYS.map(([key, name]) => {
      const span = h && h.week && h.week[key] && h.week[key][0];
      const [from, to] = span ? span.split('-') : ['', ''];
      const a = el('input', { type: 'time', id: `hours-${key}-from`, value: from, 'aria-label': `${name} from` });
      const b = el('input', { type: 'time', id: `hours-${key}-to`, value: to === '24:00' ? '23:59' : to, 'aria-label': `${name} to` });
      const err = el('span', { class: 'field-error', id: `hours-${key}-error`, role: 'alert' });
      fields.add(`week.${key}[0]`, a, err);
      fields.add(`week.${key}`, a, err);
      return { key, a, b, err, row: el('div', { class: 'hours-day' }, el('span', { class: 'hours-name', text: name }), a, el('span', { text: '–' }), b, err) };
    });
    const holidays = el('input', { id: 'hours-holidays', value: ((h && h.holidays) || []).join(', '), placeholder: '2026-12-25, 2026-12-26' });
    fields.add('holidays', holidays);
    const save = el('button', { type: 'submit', class: 'button primary small', text: 'Save working hours' });
    const remove = el('button', { type: 'button', class: 'button small', text: 'No working hours', hidden: !h });
    const form = el('form', { id: 'hours-form', class: 'hours-form', novalidate: true },
      el('h3', { id: 'hours-title', text: 'Working hours' }),
      el('p', { class: 'muted', text: 'Outside these hours you are on Do not disturb ("outside working hours"). A change you make yourself lasts until the next start or end of your hours.' }),
      el('label', { for: 'hours-zone', text: 'Time zone' }), zone,
      ...rows.map((r) => r.row),
      el('label', { for: 'hours-holidays', text: 'Holidays (dates)' }), holidays,
      errors, el('div', { class: 'greeting-actions' }, save, remove));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      fields.clear();
      const week = {};
      for (const r of rows) {
        if (r.a.value || r.b.value) week[r.key] = [`${r.a.value}-${r.b.value === '23:59' ? '24:00' : r.b.value}`];
      }
      const body = { time_zone: zone.value.trim(), week, holidays: holidays.value.split(/[\s,]+/).filter(Boolean) };
      try {
        const st = await api('PUT', `/api/v1/users/${encodeURIComponent(session.me.ext)}/hours`, body);
        const row = session.rows.get(st.ext);
        if (row) updateRow(row, st);
        remove.hidden = false;
        toast('Working hours saved.');
      } catch (e) {
        if (e.status === 401) return;
        fields.show(e, e.field.replace(/^holidays\[\d+\]$/, 'holidays'));
      }
    });
    remove.addEventListener('click', async () => {
      try {
        await api('DELETE', `/api/v1/users/${encodeURIComponent(session.me.ext)}/hours`);
        toast('Working hours removed.');
        renderHours(null);
      } catch (e) {
        if (e.status !== 401) toast(`Could not remove the working hours: ${e.message}`, 'error');
      }
    });
    box.replaceChildren(form);
    box.hidden = false;
  }

  // ---- voicemail ---------------------------------------------------------

  async function loadVoicemail() {
    const s = session;
    if (!s || s.vmLoading) return;
    s.vmLoading = true;
    try {
      const list = await api('GET', `/api/v1/voicemail/${encodeURIComponent(s.me.ext)}`);
      if (!s.ended) renderVoicemail(list);
    } catch (e) {
      // 404: this user has no voicemail box; other errors: retry at the next poll.
    } finally {
      s.vmLoading = false;
    }
    if (!s.ended && !s.vmPoll) {
      s.vmPoll = true;
      const poll = () => {
        if (document.visibilityState === 'visible') loadVoicemail();
        later(poll, VOICEMAIL_POLL_MS);
      };
      later(poll, VOICEMAIL_POLL_MS);
    }
  }

  function renderVoicemail(list) {
    const s = session;
    const ul = $('vm-list');
    const seen = new Set();
    let prev = null;
    for (const m of list) {
      seen.add(m.id);
      let item = s.vm.get(m.id);
      if (!item) {
        item = makeVoicemail(m);
        s.vm.set(m.id, item);
      }
      updateVoicemail(item, m);
      // Keep the list in the server's order (newest first), moving only
      // what is out of place so a playing message keeps playing.
      const want = prev ? prev.nextSibling : ul.firstChild;
      if (want !== item.li) ul.insertBefore(item.li, want);
      prev = item.li;
    }
    for (const [id, item] of s.vm) {
      if (!seen.has(id)) {
        item.li.remove();
        s.vm.delete(id);
      }
    }
    const unheard = list.filter((m) => !m.heard).length;
    const count = $('vm-count');
    count.textContent = String(unheard);
    count.hidden = unheard === 0;
    $('tab-voicemail').setAttribute('aria-label', unheard ? `Voicemail, ${unheard} new` : 'Voicemail');
    $('vm-summary').textContent = list.length
      ? `${list.length} message${list.length === 1 ? '' : 's'}${unheard ? `, ${unheard} new` : ''}`
      : '';
    $('vm-empty').hidden = list.length > 0;
  }

  function makeVoicemail(m) {
    const ext = session.me.ext;
    const src = `/api/v1/voicemail/${encodeURIComponent(ext)}/${encodeURIComponent(m.id)}`;
    const from = m.from_name ? `${m.from_name} (${m.from})` : m.from || 'Unknown caller';
    const when = dateFmt.format(new Date(m.received));
    const audio = el('audio', { controls: true, preload: 'metadata', src, 'aria-label': `Message from ${from}, ${when}` });
    const badge = el('span', { class: 'badge', text: 'New' });
    const heardBtn = el('button', { type: 'button', class: 'button small' });
    const delBtn = el('button', { type: 'button', class: 'button small danger', text: 'Delete', 'aria-label': `Delete message from ${from}, ${when}` });
    const li = el('li', { class: 'vm card', 'data-id': m.id },
      el('div', { class: 'vm-head' },
        el('span', { class: 'vm-from', text: from }),
        badge,
        el('span', { class: 'vm-meta', text: `${when} · ${duration(m.duration_ms)}` +
          (m.cut_short ? ' · cut short (the system restarted while it was recorded)' : '') })),
      el('div', { class: 'vm-body' }, audio, el('div', { class: 'vm-actions' }, heardBtn, delBtn)));
    const item = { li, audio, badge, heardBtn, m };
    audio.addEventListener('play', () => { if (!item.m.heard) markHeard(item, true); });
    heardBtn.addEventListener('click', () => markHeard(item, !item.m.heard));
    delBtn.addEventListener('click', () => deleteVoicemail(item, delBtn));
    return item;
  }

  function updateVoicemail(item, m) {
    item.m = m;
    item.li.classList.toggle('unheard', !m.heard);
    item.badge.hidden = m.heard;
    item.heardBtn.textContent = m.heard ? 'Mark as new' : 'Mark as heard';
  }

  async function markHeard(item, heard) {
    const s = session;
    try {
      const m = await api('PATCH', `/api/v1/voicemail/${encodeURIComponent(s.me.ext)}/${encodeURIComponent(item.m.id)}`, { heard });
      if (!s.ended) updateVoicemail(item, m);
    } catch (e) {
      if (e.status !== 401) toast(`Could not update the message: ${e.message}`, 'error');
    }
    loadVoicemail();
  }

  async function deleteVoicemail(item, button) {
    const s = session;
    button.disabled = true;
    try {
      await api('DELETE', `/api/v1/voicemail/${encodeURIComponent(s.me.ext)}/${encodeURIComponent(item.m.id)}`);
      toast('Message deleted.');
    } catch (e) {
      button.disabled = false;
      if (e.status !== 401 && e.status !== 404) toast(`Could not delete the message: ${e.message}`, 'error');
    }
    loadVoicemail();
  }

  // ---- answering options (greetings) -------------------------------------

  async function loadGreetings() {
    const s = session;
    let list;
    try {
      list = await api('GET', `/api/v1/users/${encodeURIComponent(s.me.ext)}/greetings`);
    } catch (e) {
      if (e.status === 404) $('tab-greetings').hidden = true; // no greeting store
      return;
    }
    if (s.ended) return;
    const box = $('greetings');
    box.replaceChildren();
    for (const g of list) box.append(makeGreeting(g));
  }

  function greetingURL(kind, ext = session.me.ext) {
    return `/api/v1/users/${encodeURIComponent(ext)}/greetings/${kind}`;
  }

  // makeGreeting is one greeting's card: the signed-in user's, or (for an admin's User
  // Settings page) user ext's, whose ids then carry the extension.
  function makeGreeting(g, ext = session.me.ext) {
    const info = GREETINGS[g.kind] || { title: g.kind, when: '' };
    const id = ext === session.me.ext ? `greeting-${g.kind}` : `greeting-${ext}-${g.kind}`;
    const source = el('p', { class: 'source muted' });
    const player = el('div');
    const file = el('input', { type: 'file', id: `${id}-file`, accept: '.wav,audio/wav,audio/x-wav,audio/wave' });
    const upload = el('button', { type: 'button', class: 'button primary small', text: 'Upload' });
    const reset = el('button', { type: 'button', class: 'button small', text: 'Reset to default' });
    const card = el('div', { class: 'greeting card', 'data-kind': g.kind, role: 'group', 'aria-labelledby': `${id}-title` },
      el('h3', { id: `${id}-title`, text: info.title }),
      el('p', { class: 'muted', text: info.when }),
      source,
      player,
      el('label', { for: `${id}-file`, class: 'visually-hidden', text: `WAV file for the ${info.title} greeting` }),
      file,
      el('div', { class: 'greeting-actions' }, upload, reset));

    const show = (src) => {
      source.textContent = SOURCE_TEXT[src] || src;
      reset.hidden = src !== 'uploaded';
      player.replaceChildren();
      if (src !== 'builtin') {
        player.append(el('audio', {
          controls: true, preload: 'metadata', src: `${greetingURL(g.kind, ext)}?v=${Date.now()}`,
          'aria-label': `${info.title} greeting`,
        }));
      }
    };
    show(g.source);
    upload.disabled = true;
    file.addEventListener('change', () => { upload.disabled = file.files.length === 0; });
    upload.addEventListener('click', async () => {
      const f = file.files[0];
      if (!f) return;
      upload.disabled = true;
      try {
        const res = await api('PUT', greetingURL(g.kind, ext), new Blob([f], { type: 'audio/wav' }));
        show(res.source);
        file.value = '';
        toast(`${info.title} greeting saved.`);
      } catch (e) {
        upload.disabled = false;
        if (e.status !== 401) toast(`The greeting was not saved: ${e.message}`, 'error');
      }
    });
    reset.addEventListener('click', async () => {
      reset.disabled = true;
      try {
        const res = await api('DELETE', greetingURL(g.kind, ext));
        show(res.source);
        toast(`${info.title} greeting reset.`);
      } catch (e) {
        if (e.status !== 401) toast(`Could not reset the greeting: ${e.message}`, 'error');
      } finally {
        reset.disabled = false;
      }
    });
    return card;
  }

  // ---- queues (shown only when the server has them) ----------------------

  async function loadQueues() {
    const s = session;
    let list;
    try {
      list = await api('GET', '/api/v1/queues');
    } catch (e) {
      if (e.status === 404) {
        $('tab-queues').hidden = true;
        return; // this server has no queue endpoint
      }
      later(loadQueues, QUEUES_POLL_MS * 2);
      return;
    }
    if (s.ended) return;
    const queues = Array.isArray(list) ? list : list.queues || [];
    // The tab is there only when queues are configured.
    $('tab-queues').hidden = queues.length === 0;
    if (queues.length > 0 && location.hash === '#queues') selectTab($('tab-queues'), false);
    renderQueues(queues);
    const poll = () => (document.visibilityState === 'visible' ? loadQueues() : later(poll, QUEUES_POLL_MS));
    later(poll, QUEUES_POLL_MS);
  }

  function seconds(q) {
    for (const k of ['longest_wait_ms', 'longest_wait_s', 'longest_wait']) {
      const v = q[k];
      if (typeof v === 'number') return k.endsWith('_ms') ? v / 1000 : v;
      if (typeof v === 'string') {
        const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?$/.exec(v);
        if (m) return (+m[1] || 0) * 3600 + (+m[2] || 0) * 60 + (+m[3] || 0);
      }
    }
    return 0;
  }

  function renderQueues(list) {
    const box = $('queues');
    box.replaceChildren();
    if (list.length === 0) {
      box.append(el('p', { class: 'empty card', text: 'No queues are configured.' }));
      return;
    }
    for (const q of list) {
      const waiting = typeof q.waiting === 'number' ? q.waiting : (q.callers || []).length;
      const members = el('ul');
      for (const m of q.members || []) {
        const st = m.state || m.status || '';
        const name = m.name || (session.rows.get(m.ext) || { st: {} }).st.name || m.ext;
        members.append(el('li', null, el('span', { text: `${name} (${m.ext})` }), el('span', { class: 'muted', text: st })));
      }
      box.append(el('div', { class: 'queue card' },
        el('h3', { text: `${q.name || 'Queue'} · ${q.ext || ''}` }),
        el('div', { class: 'queue-figures' },
          el('div', { class: 'figure' }, el('strong', { text: String(waiting) }), el('span', { class: 'muted', text: 'waiting' })),
          el('div', { class: 'figure' }, el('strong', { text: duration(seconds(q) * 1000) }), el('span', { class: 'muted', text: 'longest wait' }))),
        members));
    }
  }

  // ---- calls in progress (admins) -----------------------------------------

  function callsShown() {
    return !$('panel-calls').hidden && document.visibilityState === 'visible';
  }

  // pollCalls runs for an admin's whole session and loads the calls only while the view is
  // on screen.
  function pollCalls() {
    if (callsShown()) loadCalls();
    later(pollCalls, CALLS_POLL_MS);
  }

  async function loadCalls() {
    const s = session;
    if (!s || !s.me.admin || s.callsLoading) return;
    s.callsLoading = true;
    let list;
    try {
      list = await api('GET', '/api/v1/calls');
    } catch (e) {
      if (e.status === 404 && !s.ended) {
        // This server does not list calls.
        $('tab-calls').hidden = true;
        if (!$('panel-calls').hidden) selectTab($('tab-team'), false);
      }
      return;
    } finally {
      s.callsLoading = false;
    }
    if (!s.ended) renderCalls(list || []);
    if (!s.ended) loadCallbacks();
  }

  // ---- callbacks waiting (admins) -----------------------------------------
  //
  // Callers who pressed 2 while held or queued: whom the switch calls back, for whom, how many
  // attempts failed and when the next is due. Shown under the calls; an admin may cancel one.

  async function loadCallbacks() {
    const s = session;
    if (!s || !s.callbacksServed) return;
    let list;
    try {
      list = await api('GET', '/api/v1/callbacks');
    } catch (e) {
      if (e.status === 404) s.callbacksServed = false; // this server keeps no callbacks
      return;
    }
    if (!s.ended) renderCallbacks(list || []);
  }

  // The Team view tells a user whom they are to call back (the switch rings them when they
  // are free) and who is to call them back.
  function pollMyCallbacks() {
    const s = session;
    if (!s || s.ended || !s.callbacksServed) return;
    if (document.visibilityState === 'visible') loadMyCallbacks();
    later(pollMyCallbacks, VOICEMAIL_POLL_MS);
  }

  async function loadMyCallbacks() {
    const s = session;
    let list;
    try {
      list = await api('GET', '/api/v1/callbacks');
    } catch (e) {
      if (e.status === 404) s.callbacksServed = false;
      return;
    }
    if (s.ended) return;
    const me = s.me.ext;
    // An admin is shown every callback; here only those of their own.
    const mine = (list || []).filter((cb) => !s.me.admin || cb.for === me || cb.number === me);
    $('my-callbacks-list').replaceChildren(...mine.map((cb) => {
      const caller = cb.name ? `${cb.name} (${cb.number})` : who(cb.number);
      const callee = cb.queue ? `queue ${cb.for}` : who(cb.for);
      const text = cb.number === me
        ? `${callee} will call you back${cb.dialling ? ': calling now' : ''}.`
        : `${caller} is waiting for ${cb.queue ? callee + "'s" : 'your'} callback (asked ${since(cb.requested)} ago)${cb.dialling ? ': calling now' : ''}.`;
      const li = el('li', { text });
      li.dataset.id = cb.id;
      return li;
    }));
    $('my-callbacks').hidden = mine.length === 0;
  }

  function renderCallbacks(list) {
    const box = $('callbacks');
    box.replaceChildren(...list.map(makeCallback));
    $('callbacks-section').hidden = list.length === 0;
    $('callbacks-summary').textContent = list.length === 1 ? '1 caller' : `${list.length} callers`;
  }

  function makeCallback(cb) {
    const caller = cb.name ? `${cb.name} (${cb.number})` : who(cb.number);
    const state = el('span', { class: 'call-state', text: cb.dialling ? 'Calling back' : 'Waiting' });
    state.dataset.state = 'callback';
    let when = `asked ${since(cb.requested)} ago`;
    if (cb.attempts) when += ` · ${cb.attempts} attempt${cb.attempts === 1 ? '' : 's'} failed`;
    if (cb.next_attempt && !cb.dialling) when += ` · next ${timeText(cb.next_attempt)}`;
    const cancel = el('button', { type: 'button', class: 'button small danger', text: 'Cancel' });
    cancel.addEventListener('click', () => cancelCallback(cb, caller, cancel));
    const li = el('li', { class: 'call card' },
      el('div', { class: 'call-main' },
        el('div', { class: 'call-parties', text: `${caller} ← ${cb.queue ? 'queue ' + cb.for : who(cb.for)}` }),
        state, el('span', { class: 'call-time muted', text: when }), cancel));
    li.dataset.id = cb.id;
    return li;
  }

  async function cancelCallback(cb, caller, button) {
    button.disabled = true;
    try {
      await api('DELETE', '/api/v1/callbacks/' + encodeURIComponent(cb.id));
      toast(`Callback to ${caller} cancelled.`);
    } catch (e) {
      toast(e.status === 404 ? 'That callback is no longer waiting.' : `Could not cancel: ${e.message}`, e.status === 404 ? 'info' : 'error');
    }
    loadCallbacks();
  }

  function who(ext) {
    const row = session.rows.get(ext);
    return row && row.st.name ? `${row.st.name} (${ext})` : ext;
  }

  function since(t) {
    return duration(Math.max(0, Date.now() - Date.parse(t)));
  }

  // renderCalls shows the list newest first, keeping each call's row (and whether its trace is
  // open) from one poll to the next.
  function renderCalls(list) {
    const s = session;
    const seen = new Set();
    const box = $('calls');
    list.forEach((c, i) => {
      seen.add(c.id);
      let item = s.calls.get(c.id);
      if (!item) {
        item = makeCall(c);
        s.calls.set(c.id, item);
      }
      updateCall(item, c);
      if (box.children[i] !== item.li) box.insertBefore(item.li, box.children[i] || null);
    });
    for (const [id, item] of s.calls) {
      if (!seen.has(id)) {
        item.li.remove();
        s.calls.delete(id);
      }
    }
    const n = list.length;
    $('calls-empty').hidden = n > 0;
    $('calls-summary').textContent = n === 1 ? '1 call' : `${n} calls`;
    const count = $('calls-count');
    count.textContent = String(n);
    count.hidden = n === 0;
  }

  function makeCall(c) {
    const li = el('li', { class: 'call card' });
    li.dataset.id = c.id;
    const parties = el('div', { class: 'call-parties' });
    const state = el('span', { class: 'call-state' });
    const time = el('span', { class: 'call-time muted' });
    const steps = el('ol', { class: 'call-trace-steps' });
    const traceTitle = el('summary');
    const trace = el('details', { class: 'call-trace' }, traceTitle, steps);
    const item = { li, parties, state, time, trace, traceTitle, steps, traceKey: null };
    const hangUp = el('button', { type: 'button', class: 'button small danger call-hangup', text: 'Hang up' });
    hangUp.addEventListener('click', () => hangUpCall(item, hangUp));
    li.append(el('div', { class: 'call-main' }, parties, state, time, hangUp), trace);
    return item;
  }

  function updateCall(item, c) {
    item.call = c;
    item.li.dataset.state = c.state;
    // A callback the switch placed says so in its trace's first line ("callback to …").
    const callback = (c.trace || []).some((t) => t.startsWith('callback to '));
    item.parties.textContent = `${callback ? 'Callback: ' : ''}${who(c.from)} → ${who(c.to)}`;
    item.state.textContent = CALL_STATE_TEXT[c.state] || c.state;
    item.state.dataset.state = c.state;
    item.time.textContent = c.answered ? `${since(c.started)} · answered ${since(c.answered)} ago` : since(c.started);
    item.time.title = `Started ${dateFmt.format(new Date(c.started))}`;
    const trace = c.trace || [];
    const key = trace.join('\n');
    if (key !== item.traceKey) {
      item.traceKey = key;
      item.traceTitle.textContent = trace.length ? `Routing (${trace.length} steps)` : 'Routing';
      item.steps.replaceChildren(...trace.map((t) => el('li', { text: t })));
    }
  }

  async function hangUpCall(item, button) {
    button.disabled = true;
    try {
      await api('DELETE', '/api/v1/calls/' + encodeURIComponent(item.call.id));
      toast(`Hung up ${who(item.call.from)} → ${who(item.call.to)}.`);
    } catch (e) {
      toast(e.status === 404 ? 'That call has already ended.' : `Could not hang up: ${e.message}`, e.status === 404 ? 'info' : 'error');
      button.disabled = false;
    }
    loadCalls();
  }

  // ---- my call: send it to a colleague ------------------------------------
  //
  // While my presence says I am on a call, the page asks GET /api/v1/calls (the calls I am a
  // party to; all of them for an admin, hence the filter) every CALLS_POLL_MS for the call's id,
  // and offers Transfer / To voicemail next to each colleague. Only a talking call can be sent
  // on: the switch answers 409 for one that is ringing, held, queued or in voicemail.

  function watchMyCall() {
    const s = session;
    if (!s || s.myCallPoll || !s.callsServed) return;
    s.myCallPoll = true;
    const poll = async () => {
      if (s.ended) return;
      if (!s.mine || !s.mine.on_call || !s.callsServed) {
        s.myCallPoll = false;
        s.handedOff.clear(); // those calls have left me; one coming back is mine again
        setMyCall(null);
        return;
      }
      if (document.visibilityState === 'visible') await loadMyCall();
      if (!s.ended) later(poll, CALLS_POLL_MS);
    };
    poll();
  }

  async function loadMyCall() {
    const s = session;
    if (!s || s.myCallLoading || !s.callsServed) return;
    s.myCallLoading = true;
    let list;
    try {
      list = await api('GET', '/api/v1/calls');
    } catch (e) {
      if (e.status === 404) s.callsServed = false; // this server does not list calls
      return;
    } finally {
      s.myCallLoading = false;
    }
    if (s.ended) return;
    const mine = (list || []).filter((c) => (c.parties || []).includes(s.me.ext));
    // A call I transferred lists me until the switch has ended my leg: do not offer it again.
    const ids = new Set(mine.map((c) => c.id));
    for (const id of s.handedOff) if (!ids.has(id)) s.handedOff.delete(id);
    setMyCall(mine.find((c) => c.state === 'talking' && !s.handedOff.has(c.id)) || null);
  }

  // otherParty names whom I am talking to: the other extension, or the outside number.
  function otherParty(c) {
    const me = session.me.ext;
    const others = (c.parties || []).filter((p) => p !== me);
    if (others.length) return others.map(who).join(', ');
    return who(c.from === me ? c.to : c.from);
  }

  function setMyCall(c) {
    const s = session;
    if (!s) return;
    const key = (x) => (x ? x.id + ' ' + (x.parties || []).join() : '');
    const changed = key(c) !== key(s.myCall);
    s.myCall = c;
    $('my-call').hidden = !c;
    if (c) {
      $('my-call').dataset.id = c.id;
      $('my-call-with').textContent = `On a call with ${otherParty(c)}`;
      $('my-call-time').textContent = since(c.answered || c.started);
    }
    if (changed) for (const row of s.rows.values()) updateTransfer(row);
  }

  // updateTransfer shows a colleague's Transfer / To voicemail while I have a call to send on,
  // except on the row of whom I am talking to. Transfer stands out for an Available colleague,
  // the one who can take the call now; for Busy or DND it is offered all the same, with what
  // will happen in its title, because routing decides what those statuses mean for the caller.
  function updateTransfer(row) {
    const x = row.xfer;
    if (!x) return;
    const c = session.myCall;
    const st = row.st;
    const show = !!c && !(c.parties || []).includes(st.ext);
    x.box.hidden = !show;
    if (!show) return;
    const name = st.name || st.ext;
    const status = STATUS_LONG[st.status] || st.status;
    x.xfer.classList.toggle('primary', st.status === 'available');
    x.xfer.setAttribute('aria-label', `Transfer the call to ${name} (${st.ext}), ${status}`);
    x.xfer.title = (TRANSFER_HINT[st.status] || ((n) => `${n}: ${status}.`))(name);
    x.vm.setAttribute('aria-label', `Send the call to the voicemail of ${name} (${st.ext})`);
    x.vm.title = `The caller goes straight to ${name}'s voicemail.`;
  }

  async function transferTo(ext, voicemail, button) {
    const s = session;
    const c = s && s.myCall;
    if (!c) return;
    const other = otherParty(c);
    const target = who(ext);
    button.disabled = true;
    try {
      await api('POST', `/api/v1/calls/${encodeURIComponent(c.id)}/transfer`,
        voicemail ? { to: ext, voicemail: true } : { to: ext });
      s.handedOff.add(c.id);
      if (s.myCall && s.myCall.id === c.id) setMyCall(null);
      toast(voicemail ? `Sending ${other} to the voicemail of ${target}.` : `Transferring ${other} to ${target}.`);
    } catch (e) {
      if (e.status === 404) toast('That call has already ended.');
      else if (e.status === 409) toast('The call cannot be transferred right now: it is not connected.', 'error');
      else if (e.status !== 401) toast(`Could not transfer the call: ${e.message}`, 'error');
    } finally {
      button.disabled = false;
    }
    if (!s.ended) loadMyCall();
  }

  // ---- for settings.js ---------------------------------------------------

  // What the settings pages (settings.js) share with the rest of the page, so that requests,
  // field errors and greeting cards work the same everywhere.
  window.SwitchboardUI = Object.freeze({
    api, el, toast, fieldErrors, makeGreeting,
    showTab: (id) => selectTab($(id), false),
    me: () => session && session.me,
  });

  // ---- start-up ----------------------------------------------------------

  document.addEventListener('DOMContentLoaded', async () => {
    if (phoneOnly) document.body.classList.add('phone-only');
    if ('serviceWorker' in navigator && window.isSecureContext) {
      // The app shell works offline and the page installs as an app (manifest.webmanifest).
      navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
    }
    $('signin-form').addEventListener('submit', onSignIn);
    $('signout').addEventListener('click', onSignOut);
    $('filter').addEventListener('input', onFilter);
    $('dnd-switch').addEventListener('change', (ev) => {
      if (session) setStatus(session.me.ext, ev.target.checked, ev.target);
    });
    for (const b of document.querySelectorAll('[data-dnd-for]')) {
      b.addEventListener('click', () => session && quickDND(b.dataset.dndReason || '', b.dataset.dndFor, null));
    }
    $('dnd-custom').addEventListener('submit', (ev) => {
      ev.preventDefault();
      $('dnd-reason').removeAttribute('aria-invalid');
      $('dnd-until').removeAttribute('aria-invalid');
      if (session) quickDND($('dnd-reason').value.trim(), $('dnd-until').value, $('dnd-custom-error'));
    });
    for (const t of document.querySelectorAll('[role="tab"]')) {
      t.addEventListener('click', () => selectTab(t, false));
      t.addEventListener('keydown', onTabKey);
    }
    // A user added or changed on this page shows in the list at once, before the event stream
    // brings their presence.
    document.addEventListener('switchboard:presence', (ev) => {
      if (session) applyChange(ev.detail);
    });
    document.addEventListener('visibilitychange', () => {
      if (session && document.visibilityState === 'visible') loadVoicemail();
      if (session && callsShown()) loadCalls();
      if (session && session.mine && session.mine.on_call && document.visibilityState === 'visible') loadMyCall();
    });
    try {
      start(await api('GET', '/api/v1/me'));
    } catch (e) {
      showSignIn(e.status === 401 ? '' : e.message);
    }
  });
})();
