// Switchboard's settings pages: an admin's User Settings page (from Edit in the Team list, or
// Add user), the signed-in user's Profile, and the admins' Directory of ring groups, queues
// and trunks. Plain JavaScript; it uses app.js's helpers (window.SwitchboardUI) so that
// requests and field errors work as everywhere else on the page.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const ui = () => window.SwitchboardUI;
  const enc = encodeURIComponent;

  const STRATEGIES = {
    group: [['ringall', 'Ring all at once'], ['sequential', 'One after another']],
    queue: [['longest_idle', 'Longest idle first'], ['round_robin', 'Round robin'], ['ringall', 'Ring all']],
  };
  const SRTP = [['', 'Switch default'], ['optional', 'Optional'], ['required', 'Required'], ['off', 'Off']];

  // ---- a form from a list of fields --------------------------------------

  // form builds a form of fields ({key, label, type, options, hint}) with values, each input
  // next to its error box, and calls submit(values) on Save; a refused request shows beside
  // the field it names (fieldErrors in app.js). type is text, password, number, select,
  // check, checks (a list of checkboxes: options [value, label]), list (comma separated) or
  // lines ("number = extension" per line: a map).
  function form(id, fields, values, submit, saveText) {
    const { el } = ui();
    const general = el('p', { class: 'form-error', id: `${id}-error`, role: 'alert', hidden: true });
    const errors = ui().fieldErrors(general);
    const inputs = new Map();
    const rows = fields.map((f) => {
      const fid = `${id}-${f.key}`;
      const box = el('span', { class: 'field-error', id: `${fid}-error`, role: 'alert' });
      const v = values[f.key];
      let input;
      let label = el('label', { for: fid, text: f.label });
      switch (f.type) {
        case 'select':
          input = el('select', { id: fid }, ...f.options.map(([val, text]) => el('option', { value: val, text })));
          input.value = v == null ? '' : String(v);
          break;
        case 'check':
          input = el('input', { type: 'checkbox', id: fid, checked: !!v });
          break;
        case 'checks': {
          label = el('legend', { text: f.label });
          input = el('fieldset', { id: fid, class: 'checks' }, label,
            ...f.options.map(([val, text]) => el('label', { class: 'check' },
              el('input', { type: 'checkbox', value: val, checked: (v || []).includes(val) }), ` ${text}`)));
          if (f.options.length === 0) input.append(el('span', { class: 'muted', text: 'None yet.' }));
          label = null;
          break;
        }
        case 'lines':
          input = el('textarea', { id: fid, rows: 3 });
          input.value = Object.entries(v || {}).map(([k, t]) => `${k} = ${t}`).join('\n');
          break;
        case 'list':
          input = el('input', { type: 'text', id: fid, value: (v || []).join(', ') });
          break;
        default:
          input = el('input', { type: f.type || 'text', id: fid, value: v == null ? '' : String(v) });
          if (f.type === 'number') input.step = 'any';
          if (f.type === 'password') input.autocomplete = 'new-password';
      }
      inputs.set(f.key, { f, input });
      errors.add(f.key, input, box);
      const hint = f.hint ? el('span', { class: 'muted field-hint', text: f.hint }) : null;
      return el('div', { class: `field field-${f.type || 'text'}` }, label, input, hint, box);
    });
    const save = el('button', { type: 'submit', class: 'button primary small', text: saveText || 'Save' });
    const node = el('form', { id, class: 'settings-form', novalidate: true }, ...rows, general,
      el('div', { class: 'greeting-actions' }, save));
    const read = () => {
      const out = {};
      for (const [key, { f, input }] of inputs) {
        if (f.type === 'check') out[key] = input.checked;
        else if (f.type === 'checks') out[key] = [...input.querySelectorAll('input:checked')].map((c) => c.value);
        else if (f.type === 'number') out[key] = input.value.trim() === '' ? NaN : Number(input.value);
        else if (f.type === 'list') out[key] = input.value.split(/[\s,]+/).filter(Boolean);
        else if (f.type === 'lines') {
          out[key] = {};
          for (const line of input.value.split('\n')) {
            const [k, t] = line.split('=').map((x) => x.trim());
            if (k) out[key][k] = t || '';
          }
        } else if (f.key === 'admin') out[key] = input.value === 'admin';
        else out[key] = input.value.trim();
        if (f.type === 'password' && out[key] === '') delete out[key];
        if (f.type === 'number' && Number.isNaN(out[key])) delete out[key];
      }
      return out;
    };
    node.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      errors.clear();
      save.disabled = true;
      try {
        await submit(read());
      } catch (e) {
        if (e.status !== 401) errors.show(e, fieldOf(e.field));
      } finally {
        save.disabled = false;
      }
    });
    return { node, inputs };
  }

  // fieldOf is the form field a refused request names: "members[1]" and "dids.+15550100" are
  // the members and dids fields. A problem of another entry ("queues[0].members", when taking a
  // user out of a queue leaves it empty) stays whole, for the form's own error line.
  function fieldOf(field) {
    if (!field || /^\w+\[\d+\]\./.test(field)) return field || '';
    return field.replace(/[.[].*$/, '');
  }

  // ---- the User Settings page --------------------------------------------

  // directoryLists are what the user forms offer: groups and queues (and users, for members).
  async function directoryLists() {
    const { api } = ui();
    const [groups, queues] = await Promise.all([
      api('GET', '/api/v1/groups').catch(() => []),
      api('GET', '/api/v1/queues?settings').catch(() => []),
    ]);
    return { groups, queues };
  }

  function userFields(lists, creating) {
    return [
      { key: 'name', label: 'Name' },
      { key: 'ext', label: 'Extension' },
      { key: 'admin', label: 'Role', type: 'select', options: [['user', 'User'], ['admin', 'Admin']] },
      { key: 'password', label: creating ? 'Password' : 'New password', type: 'password',
        hint: creating ? 'At least 8 characters; the phone and this page use it.' : 'Leave empty to keep it; needed when the extension changes.' },
      ...ownFields(),
      { key: 'srtp', label: 'Encrypted media (SRTP)', type: 'select', options: SRTP },
      { key: 'groups', label: 'Ring groups', type: 'checks', options: lists.groups.map((g) => [g.ext, `${g.name} (${g.ext})`]) },
      { key: 'queues', label: 'Queues', type: 'checks', options: lists.queues.map((q) => [q.ext, `${q.name} (${q.ext})`]) },
    ];
  }

  // ownFields are what users set for themselves.
  function ownFields() {
    return [
      { key: 'voicemail', label: 'Voicemail', type: 'check' },
      { key: 'screening', label: 'Screen calls (accept each call before it is connected)', type: 'check' },
      { key: 'no_answer_timeout', label: 'No-answer timeout (seconds)', type: 'number', hint: 'How long your phones ring before voicemail.' },
    ];
  }

  // presenceOf is a new or renamed user as the Team list shows them until their presence comes.
  function presenceOf(u) {
    return { ext: u.ext, name: u.name, status: 'available', dnd: false, on_call: false, registered: false };
  }

  // availability is the Available / DND choice with its Save button (PUT /api/v1/presence).
  async function availability(id, ext) {
    const { api, el, toast } = ui();
    let st = null;
    try {
      st = await api('GET', `/api/v1/presence/${enc(ext)}`);
    } catch (e) {
      return null; // no presence on this server, or not yet for a new user
    }
    const f = form(id, [{ key: 'status', label: 'Availability', type: 'select', options: [['available', 'Available'], ['dnd', 'Do not disturb']] }],
      { status: st.dnd ? 'dnd' : 'available' }, async (v) => {
        const now = await api('PUT', `/api/v1/presence/${enc(ext)}`, { status: v.status });
        document.dispatchEvent(new CustomEvent('switchboard:presence', { detail: now }));
        toast('Availability saved.');
      }, 'Save availability');
    return el('section', { class: 'settings-part card' }, f.node);
  }

  // openUser shows the User Settings page for ext, or for a new user when ext is ''.
  async function openUser(ext) {
    const { api, el, toast, makeGreeting } = ui();
    for (const p of document.querySelectorAll('main > .panel')) p.hidden = true;
    for (const t of document.querySelectorAll('[role="tab"]')) t.setAttribute('aria-selected', 'false');
    $('panel-user').hidden = false;
    const box = $('user-settings');
    box.replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
    const creating = ext === '';
    let user;
    let lists;
    try {
      [user, lists] = await Promise.all([
        creating ? { ext: '', name: '', admin: false, voicemail: true, screening: false, no_answer_timeout: 20, srtp: '', groups: [], queues: [] }
          : api('GET', `/api/v1/users/${enc(ext)}`),
        directoryLists(),
      ]);
    } catch (e) {
      box.replaceChildren(el('p', { class: 'form-error', role: 'alert', text: e.message }));
      return;
    }
    $('user-title').textContent = creating ? 'Add user' : `User Settings: ${user.name} (${user.ext})`;
    const values = { ...user, admin: user.admin ? 'admin' : 'user' };
    const main = form('user-form', userFields(lists, creating), values, async (v) => {
      if (creating) {
        const made = await api('POST', '/api/v1/users', v);
        document.dispatchEvent(new CustomEvent('switchboard:presence', { detail: presenceOf(made) }));
        toast(`${made.name} (${made.ext}) added.`);
        ui().showTab('tab-team');
        return;
      }
      const now = await api('PUT', `/api/v1/users/${enc(ext)}`, v);
      if (now.ext !== ext) {
        document.dispatchEvent(new CustomEvent('switchboard:presence', { detail: { ext, removed: true } }));
        document.dispatchEvent(new CustomEvent('switchboard:presence', { detail: presenceOf(now) }));
      }
      toast('Settings saved.');
      openUser(now.ext);
    }, creating ? 'Add user' : 'Save');
    const parts = [];
    if (!creating) {
      const avail = await availability('user-availability', ext);
      if (avail) parts.push(avail);
    }
    parts.push(el('section', { class: 'settings-part card' }, main.node));
    if (!creating) {
      const greetings = el('div', { class: 'greetings' });
      api('GET', `/api/v1/users/${enc(ext)}/greetings`).then((list) => {
        for (const g of list) greetings.append(makeGreeting(g, ext));
      }).catch(() => {});
      parts.push(el('section', { class: 'settings-part' }, el('h3', { text: 'Greetings' }), greetings));
      const remove = el('button', { type: 'button', id: 'user-remove', class: 'button danger small', text: `Remove ${user.name}` });
      const removeError = el('p', { class: 'form-error', id: 'user-remove-error', role: 'alert', hidden: true });
      remove.addEventListener('click', async () => {
        if (!window.confirm(`Remove ${user.name} (${user.ext})? Their phones stop working at once.`)) return;
        removeError.hidden = true;
        try {
          await api('DELETE', `/api/v1/users/${enc(ext)}`);
          document.dispatchEvent(new CustomEvent('switchboard:presence', { detail: { ext, removed: true } }));
          toast(`${user.name} removed.`);
          ui().showTab('tab-team');
        } catch (e) {
          removeError.textContent = e.message;
          removeError.hidden = false;
        }
      });
      parts.push(el('section', { class: 'settings-part' }, removeError, remove));
    }
    box.replaceChildren(...parts);
  }

  // ---- the Profile --------------------------------------------------------

  async function loadProfile() {
    const { api, el, toast } = ui();
    const me = ui().me();
    if (!me) return;
    const box = $('profile');
    let user;
    try {
      user = await api('GET', `/api/v1/users/${enc(me.ext)}`);
    } catch (e) {
      if (e.status === 404) $('tab-profile').hidden = true; // this server has no directory API
      return;
    }
    const parts = [];
    const avail = await availability('profile-availability', me.ext);
    if (avail) parts.push(avail);
    const own = form('profile-form', ownFields(), user, async (v) => {
      await api('PUT', `/api/v1/users/${enc(me.ext)}`, v);
      toast('Your settings are saved.');
    });
    parts.push(el('section', { class: 'settings-part card' }, own.node));
    const pw = form('password-form', [
      { key: 'current', label: 'Current password', type: 'password' },
      { key: 'password', label: 'New password', type: 'password', hint: 'At least 8 characters. Set it on your phones too.' },
    ], {}, async (v) => {
      await api('PUT', `/api/v1/users/${enc(me.ext)}/password`, { current: v.current || '', password: v.password || '' });
      pw.inputs.get('current').input.value = '';
      pw.inputs.get('password').input.value = '';
      toast('Your password is changed.');
    }, 'Change password');
    parts.push(el('section', { class: 'settings-part card' }, el('h3', { text: 'Password' }), pw.node));
    box.replaceChildren(...parts);
  }

  // ---- the Directory: ring groups, queues, trunks ---------------------------

  // Ring groups and queues take the same fields for what they share (the strategies offered
  // aside): their forms open with them, and both have a fallback.
  const teamFields = (kind, users) => [
    { key: 'ext', label: 'Extension' }, { key: 'name', label: 'Name' },
    { key: 'strategy', label: 'Strategy', type: 'select', options: STRATEGIES[kind] },
    { key: 'members', label: 'Members', type: 'checks', options: users },
    { key: 'ring_timeout', label: 'Ring timeout (seconds)', type: 'number' },
  ];
  const fallbackField = () => ({ key: 'fallback', label: 'Fallback', hint: 'hangup, voicemail:EXT or an extension' });

  const KINDS = [
    { kind: 'group', title: 'Ring groups', path: '/api/v1/groups', list: '/api/v1/groups', key: 'ext',
      fields: (users) => [...teamFields('group', users), fallbackField()],
      blank: { ext: '', name: '', strategy: 'ringall', members: [], ring_timeout: 20, fallback: 'hangup' } },
    { kind: 'queue', title: 'Queues', path: '/api/v1/queues', list: '/api/v1/queues?settings', key: 'ext',
      fields: (users) => [
        ...teamFields('queue', users),
        { key: 'max_wait', label: 'Longest wait (seconds)', type: 'number' },
        { key: 'wrapup', label: 'Wrap-up (seconds)', type: 'number' },
        { key: 'announce_position', label: 'Tell callers their place', type: 'check' },
        fallbackField(),
        { key: 'auto_pause', label: 'Auto-pause after missed offers (0: never)', type: 'number' },
        { key: 'auto_resume', label: 'Auto-resume after (seconds, 0: never)', type: 'number' },
      ],
      blank: { ext: '', name: '', strategy: 'longest_idle', members: [], ring_timeout: 15, max_wait: 300, wrapup: 5,
        announce_position: false, fallback: 'hangup', auto_pause: 3, auto_resume: 0 } },
    { kind: 'trunk', title: 'Trunks', path: '/api/v1/trunks', list: '/api/v1/trunks', key: 'name',
      fields: () => [
        { key: 'name', label: 'Name' },
        { key: 'allow', label: 'Addresses allowed', type: 'list', hint: 'IP addresses or networks, comma separated' },
        { key: 'dids', label: 'Numbers', type: 'lines', hint: 'One a line: number = extension' },
        { key: 'outbound', label: 'Outbound', hint: 'udp:host:port or tcp:host:port' },
        { key: 'outbound_prefix', label: 'Outbound prefix', hint: 'What users dial before an outside number' },
      ],
      blank: { name: '', allow: [], dids: {}, outbound: '', outbound_prefix: '' } },
  ];

  async function loadDirectory() {
    const { api, el } = ui();
    const me = ui().me();
    if (!me || !me.admin) return;
    let users;
    try {
      users = await api('GET', '/api/v1/users');
    } catch (e) {
      return;
    }
    const options = users.map((u) => [u.ext, `${u.name} (${u.ext})`]);
    const sections = await Promise.all(KINDS.map(async (k) => {
      const list = await api('GET', k.list).catch(() => []);
      const editor = el('div', { id: `${k.kind}-editor`, class: 'settings-part card', hidden: true });
      const open = (entry) => {
        const creating = !entry;
        const f = form(`${k.kind}-form`, k.fields(options), entry || k.blank, async (v) => {
          if (creating) await api('POST', k.path, v);
          else await api('PUT', `${k.path}/${enc(entry[k.key])}`, v);
          ui().toast(`${k.title.replace(/s$/, '')} saved.`);
          loadDirectory();
        }, creating ? 'Add' : 'Save');
        editor.replaceChildren(el('h3', { text: creating ? `New ${k.kind}` : `${k.kind[0].toUpperCase()}${k.kind.slice(1)} ${entry[k.key]}` }), f.node);
        editor.hidden = false;
        f.inputs.values().next().value.input.focus();
      };
      const items = list.map((entry) => {
        const error = el('span', { class: 'field-error', role: 'alert' });
        const edit = el('button', { type: 'button', class: 'button small', text: 'Edit', 'aria-label': `Edit ${entry.name}` });
        const remove = el('button', { type: 'button', class: 'button small danger', text: 'Remove', 'aria-label': `Remove ${entry.name}` });
        edit.addEventListener('click', () => open(entry));
        remove.addEventListener('click', async () => {
          if (!window.confirm(`Remove ${entry.name}?`)) return;
          try {
            await api('DELETE', `${k.path}/${enc(entry[k.key])}`);
            loadDirectory();
          } catch (e) {
            error.textContent = e.message;
          }
        });
        const what = k.kind === 'trunk' ? (entry.allow || []).join(', ') : `${entry.ext} · ${entry.members.length} members`;
        return el('li', { class: 'row', 'data-key': entry[k.key] },
          el('div', { class: 'who' }, el('div', { class: 'name', text: entry.name }), el('div', { class: 'ext', text: what }), error),
          el('div', { class: 'control' }, edit, remove));
      });
      const add = el('button', { type: 'button', id: `add-${k.kind}`, class: 'button small', text: `Add ${k.kind}` });
      add.addEventListener('click', () => open(null));
      return el('section', { class: 'settings-part', id: `directory-${k.kind}s` },
        el('div', { class: 'section-head' }, el('h3', { text: k.title }), add),
        items.length ? el('ul', { class: 'team card' }, ...items) : el('p', { class: 'empty card', text: 'None yet.' }),
        editor);
    }));
    $('directory').replaceChildren(...sections);
  }

  // ---- wiring ---------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    document.addEventListener('switchboard:edit-user', (ev) => openUser(ev.detail.ext));
    $('add-user').addEventListener('click', () => openUser(''));
    $('user-back').addEventListener('click', () => ui().showTab('tab-team'));
    $('profile-greetings-link').addEventListener('click', (ev) => {
      ev.preventDefault();
      ui().showTab('tab-greetings');
    });
    $('tab-profile').addEventListener('click', loadProfile);
    $('tab-directory').addEventListener('click', loadDirectory);
    document.addEventListener('switchboard:signedin', () => {
      if (location.hash === '#profile') loadProfile();
      if (location.hash === '#directory') loadDirectory();
    });
    document.addEventListener('switchboard:signedout', () => {
      $('profile').replaceChildren();
      $('directory').replaceChildren();
      $('user-settings').replaceChildren();
      $('panel-user').hidden = true;
    });
  });
})();
