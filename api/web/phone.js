// Switchboard web phone: the page is a phone. JsSIP (bundled from npm into /web/jssip.js)
// registers over SIP on a WebSocket with a short-lived credential the signed-in session gets from
// GET /api/v1/phone (the password never reaches the page); calls carry WebRTC audio, which the
// switch bridges to desk phones, trunks, voicemail and queues.
//
// The team page (app.js) tells this file when the user signs in or out and when a row's Call
// button is pressed, with DOM events: switchboard:signedin, switchboard:signedout,
// switchboard:call. window.SwitchboardPhone shows the phone's state (for tests and the curious).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const P = (window.SwitchboardPhone = { state: 'off', detail: '', call: 'idle' });

  const MEDIA = {
    mediaConstraints: { audio: true, video: false },
    pcConfig: { iceServers: [] }, // the switch is ICE-lite on an address every phone reaches
    rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
  };
  const CAUSE_TEXT = {
    Busy: 'The line is busy.',
    Rejected: 'The call was refused.',
    'Not Found': 'No such number.',
    Unavailable: 'Not available right now.',
    Canceled: 'The caller hung up.',
    'No Answer': 'No answer.',
    'Request Timeout': 'No answer.',
    'Connection Error': 'The connection to the switch failed.',
    'Incompatible SDP': 'The call could not agree on audio.',
    'User Denied Media Access': 'Your browser refused the microphone. Allow it for this site ' +
      '(the icon beside the address) and call again.',
  };

  let ua = null;
  let cfg = null;
  let call = null; // the one call in progress (a JsSIP RTCSession)
  let timer = null;
  let answeredAt = 0;
  let ring = null; // the ringing sound while a call comes in
  let retry = null;

  function setState(state, text) {
    P.state = state;
    P.detail = text;
    $('phone').dataset.state = state;
    $('phone-state').textContent = text;
  }

  function setCall(state, text) {
    P.call = state;
    $('phone').dataset.call = state;
    $('phone-call-text').textContent = state === 'ringing' ? text : '';
    $('phone-peer').textContent = state === 'talking' || state === 'calling' ? text : '';
    $('phone-incoming').hidden = state !== 'ringing';
    $('phone-incall').hidden = state !== 'talking' && state !== 'calling';
    $('phone-dial').hidden = state !== 'idle';
    if (state === 'idle') $('phone-keypad-incall').hidden = true;
  }

  function notice(text) {
    const n = $('phone-notice');
    n.textContent = text || '';
    n.hidden = !text;
  }

  // ---- registration -------------------------------------------------------

  async function start() {
    stop();
    $('phone').hidden = false;
    if (!window.isSecureContext) {
      setState('insecure', 'The web phone needs https (or localhost): browsers give the microphone only there.');
      return;
    }
    if (typeof JsSIP === 'undefined' || !navigator.mediaDevices) {
      setState('unsupported', 'This browser cannot be a phone (no WebRTC).');
      return;
    }
    let res;
    try {
      res = await fetch('/api/v1/phone', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    } catch (e) {
      setState('error', 'Cannot reach the switch.');
      later(start, 5000);
      return;
    }
    if (res.status === 404) { // a switch without the web phone
      $('phone').hidden = true;
      return;
    }
    if (!res.ok) {
      setState('error', 'The web phone is not available (' + res.status + ').');
      return;
    }
    cfg = await res.json();
    if (!cfg.ws_servers || cfg.ws_servers.length === 0) {
      setState('off', 'The switch has no WebSocket listener for browsers (sip.listen ws: or wss:).');
      return;
    }
    ua = new JsSIP.UA({
      sockets: cfg.ws_servers.map((u) => new JsSIP.WebSocketInterface(u)),
      uri: 'sip:' + cfg.ext + '@' + cfg.domain,
      authorization_user: cfg.authorization_user,
      password: cfg.password,
      display_name: cfg.display_name,
      register: true,
      session_timers: false,
      user_agent: 'Switchboard web phone',
    });
    ua.on('connecting', () => setState('connecting', 'Connecting…'));
    ua.on('disconnected', () => setState('connecting', 'Not connected to the switch; trying again…'));
    ua.on('registered', () => setState('ready', 'Ready: calls to ' + cfg.ext + ' ring here.'));
    ua.on('unregistered', () => { if (P.state === 'ready') setState('connecting', 'Registering…'); });
    ua.on('registrationFailed', (e) => {
      setState('error', 'Not registered (' + (e.cause || 'failed') + '); trying again…');
      later(start, 5000); // a fresh credential: the switch may have restarted
    });
    ua.on('newRTCSession', (e) => onSession(e.session, e.originator === 'remote'));
    setState('connecting', 'Connecting…');
    ua.start();
  }

  function stop() {
    if (retry) clearTimeout(retry);
    retry = null;
    if (call) { try { call.terminate(); } catch (e) { /* already over */ } }
    endCall();
    if (ua) { try { ua.stop(); } catch (e) { /* closed */ } }
    ua = null;
    setState('off', '');
  }

  function later(fn, ms) {
    if (retry) clearTimeout(retry);
    retry = setTimeout(() => { retry = null; fn(); }, ms);
  }

  // ---- calls ---------------------------------------------------------------

  function dial(number) {
    number = String(number || '').replace(/[^0-9*#+]/g, '');
    if (!number) return;
    if (!ua || P.state !== 'ready') {
      notice('The phone is not ready: ' + (P.detail || 'not registered'));
      return;
    }
    if (call) {
      notice('Hang up the current call first.');
      return;
    }
    notice('');
    ua.call('sip:' + number + '@' + cfg.domain, MEDIA);
  }

  function onSession(s, incoming) {
    if (call) { // one call at a time: a second caller gets busy (the switch sends them on)
      s.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
      return;
    }
    call = s;
    const who = s.remote_identity;
    const name = (who.display_name || '') + (who.uri.user ? (who.display_name ? ' (' + who.uri.user + ')' : who.uri.user) : '');
    P.peer = who.uri.user;
    if (incoming) {
      $('phone-caller').textContent = name;
      setCall('ringing', 'Incoming call from');
      startRing();
    } else {
      setCall('calling', 'Calling ' + name + '…');
    }
    s.on('peerconnection', (e) => listen(e.peerconnection));
    if (s.connection) listen(s.connection);
    s.on('progress', () => { if (!incoming) setCall('calling', 'Ringing ' + name + '…'); });
    s.on('confirmed', () => {
      stopRing();
      answeredAt = Date.now();
      setCall('talking', name);
      tick();
      timer = setInterval(tick, 1000);
    });
    s.on('hold', () => { $('phone-hold').setAttribute('aria-pressed', 'true'); $('phone-hold').textContent = 'Resume'; });
    s.on('unhold', () => { $('phone-hold').setAttribute('aria-pressed', 'false'); $('phone-hold').textContent = 'Hold'; });
    s.on('ended', () => endCall(''));
    s.on('failed', (e) => endCall(CAUSE_TEXT[e.cause] || (e.originator === 'local' ? '' : String(e.cause || ''))));
  }

  function listen(pc) {
    pc.addEventListener('track', (ev) => {
      const audio = $('phone-audio');
      audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      audio.play().catch(() => {});
    });
  }

  function endCall(why) {
    stopRing();
    if (timer) clearInterval(timer);
    timer = null;
    call = null;
    P.peer = '';
    $('phone-audio').srcObject = null;
    $('phone-mute').setAttribute('aria-pressed', 'false');
    $('phone-mute').textContent = 'Mute';
    $('phone-hold').setAttribute('aria-pressed', 'false');
    $('phone-hold').textContent = 'Hold';
    $('phone-timer').textContent = '';
    setCall('idle', '');
    if (why) notice(why);
  }

  function tick() {
    const s = Math.floor((Date.now() - answeredAt) / 1000);
    $('phone-timer').textContent = Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
  }

  // The ring is made, not downloaded: two tones, two seconds on and four off, while the page is
  // open (a browser only lets a page make sound after the user has used it; the visual alert
  // stays either way).
  function startRing() {
    stopRing();
    try {
      const ctx = new AudioContext();
      const gain = ctx.createGain();
      gain.gain.value = 0;
      gain.connect(ctx.destination);
      for (const f of [440, 480]) {
        const o = ctx.createOscillator();
        o.frequency.value = f;
        o.connect(gain);
        o.start();
      }
      const cadence = () => {
        const t = ctx.currentTime;
        gain.gain.setValueAtTime(0.1, t);
        gain.gain.setValueAtTime(0, t + 2);
      };
      cadence();
      ring = { ctx, every: setInterval(cadence, 6000) };
    } catch (e) {
      ring = null;
    }
  }

  function stopRing() {
    if (!ring) return;
    clearInterval(ring.every);
    ring.ctx.close();
    ring = null;
  }

  // ---- controls ------------------------------------------------------------

  // toggleHold holds or resumes the call. JsSIP refuses (returns false) while the previous
  // re-INVITE is still being completed, which a quick second press can hit: try again shortly.
  function toggleHold(tries) {
    if (!call) return;
    const done = call.isOnHold().local ? call.unhold() : call.hold();
    if (done === false && tries > 0) setTimeout(() => toggleHold(tries - 1), 100);
  }

  // Both keypads (dialling, and tones during a call) get the same twelve keys.
  function buildKeypads() {
    for (const pad of document.querySelectorAll('.keypad')) {
      for (const key of '123456789*0#') {
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.key = key;
        b.textContent = key;
        pad.append(b);
      }
    }
  }

  function wire() {
    buildKeypads();
    $('phone-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      dial($('phone-number').value);
    });
    for (const b of document.querySelectorAll('#phone-keypad button')) {
      b.addEventListener('click', () => {
        const n = $('phone-number');
        n.value += b.dataset.key;
        n.focus();
      });
    }
    for (const b of document.querySelectorAll('#phone-keypad-incall button')) {
      b.addEventListener('click', () => { if (call) call.sendDTMF(b.dataset.key); });
    }
    $('phone-answer').addEventListener('click', () => {
      if (!call) return;
      stopRing();
      call.answer(MEDIA);
    });
    // Declining and sending to voicemail both refuse the call at this phone; the switch then
    // does what it does for a call nobody takes (the caller reaches the user's voicemail; in a
    // group or queue the next colleague rings). 486 says "busy here", 603 "decline".
    $('phone-decline').addEventListener('click', () => {
      if (call) call.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
    });
    $('phone-voicemail').addEventListener('click', () => {
      if (call) call.terminate({ status_code: 603, reason_phrase: 'Decline' });
    });
    $('phone-hangup').addEventListener('click', () => { if (call) call.terminate(); });
    $('phone-mute').addEventListener('click', (ev) => {
      if (!call) return;
      const muted = call.isMuted().audio;
      if (muted) call.unmute({ audio: true }); else call.mute({ audio: true });
      ev.target.setAttribute('aria-pressed', String(!muted));
      ev.target.textContent = muted ? 'Mute' : 'Unmute';
    });
    $('phone-hold').addEventListener('click', () => toggleHold(10));
    $('phone-keys').addEventListener('click', () => {
      const k = $('phone-keypad-incall');
      k.hidden = !k.hidden;
    });
    $('phone-window').addEventListener('click', (ev) => {
      ev.preventDefault();
      window.open('/phone', 'switchboard-phone', 'popup,width=420,height=720');
    });
    document.addEventListener('switchboard:signedin', () => start());
    document.addEventListener('switchboard:signedout', () => { stop(); $('phone').hidden = true; });
    document.addEventListener('switchboard:call', (ev) => dial(ev.detail.ext));
    // Transfer from the phone itself (REFER), for the row buttons' fallback and tests.
    P.transfer = (ext) => { if (call) call.refer('sip:' + ext + '@' + cfg.domain); };
    P.dial = dial;
  }

  document.addEventListener('DOMContentLoaded', wire);
})();
