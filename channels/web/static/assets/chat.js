/* The web chat page's client. It speaks Rasa's socket.io protocol (session_request / session_confirm,
   user_uttered / bot_uttered) through a small Engine.IO v4 / Socket.IO v5 websocket client of its own,
   so the page needs nothing from another site. The session id and the lines shown are kept in
   localStorage: a reload or a later visit continues the same conversation. */
(() => {
  "use strict";

  const SESSION_KEY = "ccm.chat.session";
  const TRANSCRIPT_KEY = "ccm.chat.transcript";
  const TRANSCRIPT_LIMIT = 300;
  const WRITING_TIMEOUT_MS = 20000;
  const RETRY_MAX_MS = 10000;  // a customer back after a deploy waits at most about this long

  const labels = JSON.parse(document.getElementById("chat-labels").textContent);
  const language = document.documentElement.lang;
  const log = document.getElementById("transcript");
  const status = document.getElementById("chat-status");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");

  // Storage may be off (private windows, policies): the chat still works, it only forgets on reload.
  function load(key, fallback) {
    try {
      const stored = localStorage.getItem(key);
      return stored === null ? fallback : JSON.parse(stored);
    } catch {
      return fallback;
    }
  }

  function save(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch {
      /* full or refused: nothing to do */
    }
  }

  let sessionId = load(SESSION_KEY, null);
  let transcript = load(TRANSCRIPT_KEY, []);
  if (!Array.isArray(transcript)) transcript = [];

  // --- what the customer sees ---

  function renderChoices(choices) {
    const group = document.createElement("div");
    group.className = "choices";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", labels.choices);
    for (const choice of choices) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = choice.title;
      button.addEventListener("click", () => {
        say(choice.payload, choice.title);
        input.focus();
      });
      group.append(button);
    }
    return group;
  }

  function renderLine(line, withChoices) {
    const item = document.createElement("div");
    item.className = `line ${line.from}`;
    if (line.text) {
      const bubble = document.createElement("p");
      bubble.className = "bubble";
      const speaker = document.createElement("span");
      speaker.className = "visually-hidden";
      speaker.textContent = `${line.from === "customer" ? labels.you : labels.assistant}: `;
      bubble.append(speaker, document.createTextNode(line.text));
      item.append(bubble);
    }
    if (withChoices && line.choices && line.choices.length) item.append(renderChoices(line.choices));
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }

  function renderTranscript() {
    log.replaceChildren();
    // Only the choices offered since the customer last wrote can still be answered.
    let lastCustomer = -1;
    transcript.forEach((line, index) => {
      if (line.from === "customer") lastCustomer = index;
    });
    transcript.forEach((line, index) => renderLine(line, index > lastCustomer));
  }

  function add(line) {
    if (line.from === "customer") log.querySelectorAll(".choices").forEach((group) => group.remove());
    transcript.push(line);
    transcript = transcript.slice(-TRANSCRIPT_LIMIT);
    save(TRANSCRIPT_KEY, transcript);
    renderLine(line, true);
  }

  let connected = false;
  let everConnected = false;
  let waiting = false;
  let waitingTimer = null;

  function showStatus() {
    if (!connected) status.textContent = everConnected ? labels.reconnecting : labels.connecting;
    else status.textContent = waiting ? labels.writing : "";
  }

  function writing(on) {
    waiting = on;
    clearTimeout(waitingTimer);
    if (on) waitingTimer = setTimeout(() => writing(false), WRITING_TIMEOUT_MS);
    showStatus();
  }

  // --- Engine.IO v4 / Socket.IO v5 over a websocket: open "0", connect "40", events "42[...]", ping "2" -> "3" ---

  class ChatSocket {
    constructor(url, handlers) {
      this.url = url;
      this.handlers = handlers;
      this.ws = null;
      this.ready = false;
      this.attempts = 0;
      this.silence = 45000;
    }

    open() {
      clearTimeout(this.retryTimer);
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.addEventListener("message", (event) => {
        if (this.ws === ws) this.engineIo(String(event.data));
      });
      ws.addEventListener("close", () => {
        if (this.ws === ws) this.closed();
      });
      ws.addEventListener("error", () => ws.close());
    }

    engineIo(packet) {
      switch (packet[0]) {
        case "0": {
          const handshake = JSON.parse(packet.slice(1));
          this.silence = handshake.pingInterval + handshake.pingTimeout;
          this.alive();
          this.ws.send("40");
          break;
        }
        case "2":
          this.alive();
          this.ws.send("3");
          break;
        case "1":
          this.ws.close();
          break;
        case "4":
          this.socketIo(packet.slice(1));
          break;
        default:
      }
    }

    socketIo(packet) {
      switch (packet[0]) {
        case "0":
          this.attempts = 0;
          this.ready = true;
          this.handlers.connect();
          break;
        case "2": {
          const [event, data] = JSON.parse(packet.slice(1).replace(/^\d+/, ""));
          this.handlers.event(event, data);
          break;
        }
        case "1": // the server ended this session, or refused it ("4"): start over
        case "4":
          this.ws.close();
          break;
        default:
      }
    }

    emit(event, data) {
      if (!this.ready) return false;
      this.ws.send(`42${JSON.stringify([event, data])}`);
      return true;
    }

    alive() {
      // The server pings every pingInterval; silence for longer means the connection is gone.
      clearTimeout(this.silenceTimer);
      this.silenceTimer = setTimeout(() => this.ws && this.ws.close(), this.silence);
    }

    closed() {
      clearTimeout(this.silenceTimer);
      this.ws = null;
      this.ready = false;
      this.handlers.disconnect();
      const delay = Math.min(RETRY_MAX_MS, 500 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
      this.attempts += 1;
      this.retryTimer = setTimeout(() => this.open(), delay);
    }

    retryNow() {
      if (!this.ws) this.open();
    }
  }

  // --- Rasa's socket.io conversation ---

  const outbox = [];
  let confirmed = false;

  function flush() {
    while (confirmed && outbox.length) {
      socket.emit("user_uttered", { message: outbox.shift(), session_id: sessionId, customData: { language } });
    }
  }

  function say(message, shown) {
    add({ from: "customer", text: shown, choices: [] });
    outbox.push(message);
    flush();
    writing(true);
  }

  function sessionConfirmed(data) {
    const id = data && typeof data === "object" ? data.session_id : data;
    if (typeof id !== "string") return;
    if (sessionId && id !== sessionId) {
      // The server did not keep the old session: this is a new conversation.
      transcript = [];
      save(TRANSCRIPT_KEY, transcript);
      renderTranscript();
    }
    sessionId = id;
    save(SESSION_KEY, id);
    confirmed = true;
    flush();
  }

  function botUttered(message) {
    if (!message || typeof message !== "object") return;
    const text = typeof message.text === "string" ? message.text : "";
    const offered = message.quick_replies || message.buttons || [];
    const choices = (Array.isArray(offered) ? offered : [])
      .filter((choice) => choice && typeof choice.title === "string" && typeof choice.payload === "string")
      .map((choice) => ({ title: choice.title, payload: choice.payload }));
    if (!text && !choices.length) return;
    writing(false);
    add({ from: "assistant", text, choices });
  }

  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new ChatSocket(`${scheme}//${location.host}/socket.io/?EIO=4&transport=websocket`, {
    connect() {
      connected = true;
      everConnected = true;
      confirmed = false;
      socket.emit("session_request", { session_id: sessionId });
      showStatus();
    },
    disconnect() {
      connected = false;
      confirmed = false;
      showStatus();
    },
    event(name, data) {
      if (name === "session_confirm") sessionConfirmed(data);
      else if (name === "bot_uttered") botUttered(data);
    },
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    say(text, text);
  });

  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter starts a new line.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  window.addEventListener("online", () => socket.retryNow());

  renderTranscript();
  showStatus();
  socket.open();
})();
