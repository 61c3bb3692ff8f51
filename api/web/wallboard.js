// Switchboard queue wallboard. Plain JavaScript, no build step.
//
// Signs in as the team page does (POST /api/v1/session: a session cookie), then follows
// GET /api/v1/queues/wallboard/events: each "board" event is the whole board, drawn afresh.
// Between boards only time moves: the clock and the longest waits tick here, from the
// moment the board arrived.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  const STATE_TEXT = {
    available: 'Available', ringing: 'Ringing', busy: 'On a call', wrapup: 'Wrap-up',
    dnd: 'DND', offline: 'Offline',
  };
  // The service level's target and warning line, as call centres commonly set them.
  const SL_GOOD = 0.8;
  const SL_WARN = 0.6;

  let es = null; // the EventSource
  let retries = 0;
  let retryTimer = 0;
  let board = null; // the last board, and when it came (performance.now())
  let boardAt = 0;
  let offsetMs = null; // the switch's UTC offset, from board.now

  // ---- HTTP ---------------------------------------------------------------

  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      const e = new Error('Switchboard cannot be reached.');
      e.status = 0;
      throw e;
    }
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const e = new Error((data && data.error) || res.statusText);
      e.status = res.status;
      e.retryAfter = Number(res.headers.get('Retry-After')) || 0;
      throw e;
    }
    return data;
  }

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  // ---- sign-in ------------------------------------------------------------

  function showSignIn(message) {
    stop();
    $('loading').hidden = true;
    $('board').hidden = true;
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
      err.textContent = 'Enter an extension and its password.';
      err.hidden = false;
      return;
    }
    $('signin-button').disabled = true;
    try {
      await api('POST', '/api/v1/session', { ext, password });
      start();
    } catch (e) {
      if (e.status === 401) err.textContent = 'Wrong extension or password. Please try again.';
      else if (e.status === 429) err.textContent = `Too many failed sign-ins. Please wait ${e.retryAfter || 'a few'} seconds.`;
      else err.textContent = e.message;
      err.hidden = false;
      $('signin-password').value = '';
    } finally {
      $('signin-button').disabled = false;
    }
  }

  // ---- the stream ---------------------------------------------------------

  function stop() {
    if (es) es.close();
    es = null;
    clearTimeout(retryTimer);
  }

  function setLive(live, text) {
    $('live').dataset.live = String(live);
    $('live').textContent = text || (live ? 'Live' : 'Reconnecting…');
  }

  function start() {
    stop();
    $('loading').hidden = true;
    $('signin').hidden = true;
    $('board').hidden = false;
    connect();
  }

  function connect() {
    const src = new EventSource('/api/v1/queues/wallboard/events');
    es = src;
    src.addEventListener('board', (e) => {
      retries = 0;
      setLive(true);
      $('notice').hidden = true;
      draw(JSON.parse(e.data));
    });
    src.addEventListener('error', () => {
      if (es !== src) return;
      setLive(false);
      // CONNECTING: the browser tries again by itself. CLOSED: the server refused the stream
      // (a 401 once the session ended, a 404 without queues); find out which.
      if (src.readyState !== EventSource.CLOSED) return;
      src.close();
      es = null;
      reconnectLater();
    });
  }

  // reconnectLater asks who we are after a growing pause (1 s … 30 s, with jitter): a 401
  // shows the sign-in form, anything else opens the stream again.
  function reconnectLater() {
    const delay = Math.min(30000, 1000 * 2 ** retries) * (0.75 + Math.random() / 2);
    retries++;
    retryTimer = setTimeout(async () => {
      try {
        await api('GET', '/api/v1/me');
        const res = await fetch('/api/v1/queues/wallboard', { credentials: 'same-origin' });
        if (res.status === 404) {
          $('notice').textContent = 'This switch has no queue wallboard.';
          $('notice').hidden = false;
          return;
        }
        connect();
      } catch (e) {
        if (e.status === 401) showSignIn('The session has ended. Please sign in again.');
        else reconnectLater();
      }
    }, delay);
  }

  // ---- drawing ------------------------------------------------------------

  function clockText(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  }

  function percent(v) {
    return v == null ? '—' : `${Math.round(v * 100)}%`;
  }

  // tile is one figure; label is [words, shorter words] (the shorter ones show when several
  // queues share the screen).
  function tile(figure, value, label, sub, tone) {
    const t = el('div', { class: 'tile', 'data-figure': figure },
      el('span', { class: 'value', text: value }),
      el('span', { class: 'label' },
        el('span', { class: 'long', text: label[0] }), el('span', { class: 'short', text: label[1] })),
      sub ? el('span', { class: 'sub', text: sub }) : null);
    if (tone) t.dataset.tone = tone;
    return t;
  }

  function slTone(v) {
    if (v == null) return '';
    return v >= SL_GOOD ? 'good' : v >= SL_WARN ? 'warn' : 'bad';
  }

  function waitTone(q, ms) {
    if (q.waiting === 0) return 'good';
    return ms > board.service_level_seconds * 1000 ? 'bad' : 'warn';
  }

  // offsetOf reads the switch's UTC offset from an RFC 3339 time ("…+01:00" or "…Z").
  function offsetOf(t) {
    const m = /([+-])(\d\d):(\d\d)$/.exec(t || '');
    if (!m) return 0;
    return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60000;
  }

  // switchNow is the switch's local time of day as a Date read with UTC getters.
  function switchNow() {
    return new Date(Date.now() + (offsetMs || 0));
  }

  function nowSlot() {
    const d = switchNow();
    return d.getUTCHours() * 4 + Math.floor(d.getUTCMinutes() / 15);
  }

  function chart(q) {
    const slots = q.slots || [];
    const top = Math.max(1, ...slots);
    const total = slots.reduce((a, b) => a + b, 0);
    const now = board.date === switchNow().toISOString().slice(0, 10) ? nowSlot() : -1;
    const bars = el('div', { class: 'bars', role: 'img',
      'aria-label': `Calls per 15 minutes today: ${total} in all, at most ${top === 1 && total === 0 ? 0 : top} in one slot` });
    slots.forEach((n, i) => {
      const from = `${String(Math.floor(i / 4)).padStart(2, '0')}:${String((i % 4) * 15).padStart(2, '0')}`;
      const b = el('div', { class: 'bar', 'data-count': String(n), title: `${from}: ${n} call${n === 1 ? '' : 's'}` });
      b.style.height = `${(n / top) * 100}%`;
      if (i === now) b.dataset.now = 'true';
      bars.append(b);
    });
    const hours = el('div', { class: 'hours', 'aria-hidden': 'true' });
    for (let h = 0; h < 24; h++) hours.append(el('span', { text: h % 3 === 0 ? String(h).padStart(2, '0') : '' }));
    return el('section', { class: 'chart' },
      el('div', { class: 'chart-title' },
        el('span', { text: 'Calls per 15 minutes today' }),
        el('span', { text: `busiest: ${top === 1 && total === 0 ? 0 : top}` })),
      bars, hours);
  }

  function agents(q) {
    const list = el('ul', { class: 'agents', 'aria-label': 'Agents' });
    for (const a of q.agents || []) {
      list.append(el('li', { class: 'agent', 'data-ext': a.ext, 'data-state': a.state },
        el('span', { class: 'name', text: a.name || a.ext }),
        el('span', { class: 'muted', text: a.ext }),
        el('span', { class: 'state', text: STATE_TEXT[a.state] || a.state }),
        el('span', { class: 'count', text: `${a.answered_today} answered` })));
    }
    return list;
  }

  function draw(b) {
    board = b;
    boardAt = performance.now();
    if (b.now) offsetMs = offsetOf(b.now);
    $('date').textContent = b.date || '';
    const sl = b.service_level_seconds;
    const box = $('queues');
    box.replaceChildren();
    box.dataset.many = String((b.queues || []).length >= 3);
    if (!b.queues || b.queues.length === 0) {
      box.append(el('p', { class: 'notice', text: 'No queues are configured.' }));
      return;
    }
    for (const q of b.queues) {
      const wait = q.longest_wait_ms;
      const offered = q.answered_today + q.abandoned_today + q.unanswered_today;
      box.append(el('section', { class: 'queue', 'data-ext': q.ext, 'aria-label': `Queue ${q.name}` },
        el('div', { class: 'queue-head' },
          el('h2', null, document.createTextNode(`${q.name || 'Queue'} `), el('span', { class: 'muted', text: q.ext })),
          el('span', { class: 'summary', text: `${offered} call${offered === 1 ? '' : 's'} today · ${q.unanswered_today} to the fallback` })),
        el('div', { class: 'tiles' },
          tile('waiting', String(q.waiting), ['waiting', 'waiting'], q.waiting === 1 ? 'caller' : 'callers', waitTone(q, wait)),
          tile('longest-wait', clockText(wait), ['longest wait', 'longest'], 'now', waitTone(q, wait)),
          tile('answered', String(q.answered_today), ['answered today', 'answered'], `${q.answered_in_time_today} within ${sl} s`),
          tile('abandoned', String(q.abandoned_today), ['abandoned today', 'abandoned'],
            `${q.short_abandoned_today} under ${b.short_abandon_seconds} s`,
            q.abandoned_today - q.short_abandoned_today > 0 ? 'warn' : ''),
          tile('service-level', percent(q.service_level), ['service level', 'SL'], `answered within ${sl} s`,
            slTone(q.service_level)),
          tile('average-wait', clockText(q.average_wait_ms), ['average wait', 'avg wait'], 'to answer')),
        agents(q),
        chart(q)));
    }
    tick();
  }

  // tick moves the clock and the longest waits on between boards.
  function tick() {
    if (offsetMs != null) {
      const d = switchNow();
      $('clock').textContent = `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    }
    if (!board) return;
    const since = performance.now() - boardAt;
    for (const q of board.queues || []) {
      const section = document.querySelector(`.queue[data-ext="${CSS.escape(q.ext)}"]`);
      if (!section || q.waiting === 0) continue;
      const ms = q.longest_wait_ms + since;
      const t = section.querySelector('[data-figure="longest-wait"]');
      t.querySelector('.value').textContent = clockText(ms);
      t.dataset.tone = section.querySelector('[data-figure="waiting"]').dataset.tone = waitTone(q, ms);
    }
  }

  // ---- start-up -----------------------------------------------------------

  document.addEventListener('DOMContentLoaded', async () => {
    $('signin-form').addEventListener('submit', onSignIn);
    setInterval(tick, 1000);
    try {
      await api('GET', '/api/v1/me');
      start();
    } catch (e) {
      showSignIn(e.status === 401 ? '' : e.message);
    }
  });
})();
