// The chat page's client: a name kept in localStorage, one WebSocket to /chat on the host that
// served the page (wss: when the page came over https), reconnecting with back-off when it
// drops. The server sends JSON events: {type: "message", user, content, timestamp} and
// {type: "user_joined" | "user_left", count}; the page sends {user, content}.

'use strict';

const NAME_KEY = 'imphnen-chat-name';
// Reconnect delays: doubling from 0.5 s up to 10 s, each scaled by a random 50–100 % so that
// the tabs a restart dropped do not all come back in the same instant.
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;

const messages = document.getElementById('messages');
const composer = document.getElementById('composer');
const input = document.getElementById('input');
const send = document.getElementById('send');
const count = document.getElementById('count');
const status = document.getElementById('status');
const me = document.getElementById('me');
const join = document.getElementById('join');
const nameInput = document.getElementById('name');

let name = loadName();
let socket = null;
let attempts = 0;

function loadName() {
  try {
    return localStorage.getItem(NAME_KEY) || '';
  } catch {
    return ''; // storage disabled: ask every visit
  }
}

function saveName(value) {
  name = value;
  me.textContent = name;
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // storage disabled: the name lasts for this page only
  }
}

function askName() {
  nameInput.value = name;
  join.showModal();
  nameInput.focus();
}

join.addEventListener('close', () => {
  const chosen = nameInput.value.trim();
  if (chosen) saveName(chosen);
  if (!name) {
    askName(); // Escape without a name: there is no chatting anonymously
    return;
  }
  input.focus();
});

me.addEventListener('click', askName);

// `state` is also set on <body>, so the stylesheet can grey out what is stale while offline (the
// online count is the last one heard).
function setStatus(state, text) {
  status.dataset.state = state;
  document.body.dataset.connection = state;
  status.textContent = text;
  send.disabled = state !== 'open';
}

function socketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/chat`;
}

function connect() {
  setStatus(attempts === 0 ? 'connecting' : 'reconnecting', attempts === 0 ? 'connecting…' : 'reconnecting…');
  socket = new WebSocket(socketUrl());
  socket.addEventListener('open', () => {
    attempts = 0;
    setStatus('open', 'connected');
  });
  socket.addEventListener('message', (event) => receive(JSON.parse(event.data)));
  socket.addEventListener('close', () => {
    const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempts) * (0.5 + Math.random() / 2);
    attempts += 1;
    setStatus('reconnecting', `reconnecting… (in ${Math.ceil(delay / 1000)} s)`);
    setTimeout(connect, delay);
  });
}

function receive(data) {
  switch (data.type) {
    case 'user_joined':
    case 'user_left':
      count.textContent = data.count;
      break;
    case 'message':
      show(data);
      break;
  }
}

// One message: sender and time above the text; the sender's own on the right, coloured.
function show({ user, content, timestamp }) {
  const sender = String(user);
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;

  const item = document.createElement('article');
  item.className = sender === name ? 'message own' : 'message';
  const meta = document.createElement('div');
  meta.className = 'meta';
  const who = document.createElement('span');
  who.className = 'sender';
  who.textContent = sender;
  const when = document.createElement('time');
  when.className = 'time';
  when.dateTime = timestamp;
  when.title = timestamp;
  const at = new Date(timestamp);
  when.textContent = Number.isNaN(at.getTime())
    ? ''
    : at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  meta.append(who, when);
  const text = document.createElement('div');
  text.className = 'content';
  text.textContent = String(content);
  item.append(meta, text);
  messages.append(item);

  if (atBottom || sender === name) item.scrollIntoView({ block: 'end' });
}

composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const content = input.value.trim();
  if (!content) return;
  if (!name) {
    askName();
    return;
  }
  if (!socket || socket.readyState !== WebSocket.OPEN) return; // kept in the input until back
  socket.send(JSON.stringify({ user: name, content }));
  input.value = '';
});

me.textContent = name;
if (!name) askName();
connect();
