// browserfleet page hooks, installed with context.addInitScript so they run in every frame
// before page scripts. Also run lazily by the capture call in frames that missed it.
// Everything lives under one non-enumerable Symbol.for('browserfleet') property on window.
// - Element.prototype.attachShadow is wrapped so CLOSED shadow roots are remembered (the
//   capture cannot reach them otherwise).
// - A MutationObserver (document + every shadow root) and a few capture-phase event listeners
//   bump a version counter, so a capture can answer "nothing changed" without re-walking.
//   Nodes of our own highlight overlay never bump it.
// - EventTarget.prototype.addEventListener is wrapped so elements made clickable by script
//   (click/mousedown/pointerdown... listeners) are remembered: they show no tag, role or
//   tabindex that would tell the capture they can be operated. Elements listening for keys
//   are remembered too: a popup's Escape must reach the element that listens for it.
// - setTimeout/clearTimeout, fetch and XMLHttpRequest.send are wrapped to count pending short
//   timers and requests, so an action can wait (bounded) until e.g. a debounced autocomplete
//   has rendered its suggestions (state.busy()).
// - The fields' own value accessors are kept as they were before page scripts ran
//   (state.valueAccessor), so setting a value as a picker does works whatever the page did to
//   `value` since; the last focused field is remembered (state.lastField), since a popup it
//   opened still listens there for Escape after focus has left it.
(() => {
  const KEY = Symbol.for('browserfleet');
  if (Object.prototype.hasOwnProperty.call(window, KEY)) return;
  try {
    const rand = () => Math.random().toString(36).slice(2, 10);
    const state = {
      epoch: rand(),
      version: 0,
      elements: [],
      captureId: '',
      lastHref: '',
      overlay: null,
      overlayRoot: null,
      ownNodes: new WeakSet(),
      closedRoots: new WeakMap(),
      seenRoots: new WeakSet(),
      attachShadow: Element.prototype.attachShadow,
      clickable: new WeakSet(),
      keyed: new WeakSet(),
      listed: new Set(),
      timers: new Set(),
      requests: 0,
      setTimeout: window.setTimeout,
      changedAt: 0,
      lastField: null,
      lastCover: null,
    };
    const own = state.ownNodes;
    const isOwnRecord = (r) => {
      if (own.has(r.target)) return true;
      if (r.type !== 'childList') return false;
      const n = r.addedNodes.length + r.removedNodes.length;
      if (n === 0) return false;
      for (const x of r.addedNodes) if (!own.has(x)) return false;
      for (const x of r.removedNodes) if (!own.has(x)) return false;
      return true;
    };
    const onRecords = (records) => {
      for (const r of records) {
        if (!isOwnRecord(r)) {
          state.version++;
          state.changedAt = performance.now();
          return;
        }
      }
    };
    const observer = new MutationObserver(onRecords);
    const OPTS = { subtree: true, childList: true, attributes: true, characterData: true };
    // Events that change what a capture would report without any DOM mutation: form values,
    // popovers, hover/focus-revealed menus, images finishing loading, CSS transitions.
    const EVENTS = [
      'input', 'change', 'reset', 'toggle', 'click', 'mouseover', 'focusin', 'load',
      'transitionend', 'animationend',
    ];
    const FIELD = 'input,textarea,select,[role=combobox],[contenteditable]';
    const onEvent = (e) => {
      if (!own.has(e.target)) {
        state.version++;
        state.changedAt = performance.now();
      }
      if (e.type === 'focusin' && e.target.matches && e.target.matches(FIELD) && window.WeakRef) {
        state.lastField = new WeakRef(e.target);
      }
    };
    const LISTEN = { capture: true, passive: true };
    const listen = (target) => {
      for (const type of EVENTS) target.addEventListener(type, onEvent, LISTEN);
    };
    // addEventListener ignores duplicates, so this can run before every capture: it restores
    // listeners that document.open() (e.g. Playwright's setContent) erased.
    state.listen = () => {
      listen(window);
      window.addEventListener('resize', onEvent, LISTEN);
    };
    // Shadow roots are invisible to a document-level observer and to capture listeners for
    // non-composed events, so each root gets its own.
    state.watchRoot = (root) => {
      if (state.seenRoots.has(root)) return;
      state.seenRoots.add(root);
      try {
        observer.observe(root, OPTS);
        listen(root);
      } catch (_) {
        // never break the page
      }
    };
    state.flush = () => {
      const records = observer.takeRecords();
      if (records.length) onRecords(records);
    };
    observer.observe(document, OPTS);
    state.listen();
    const accessors = {};
    for (const [tag, kind] of [['input', window.HTMLInputElement], ['textarea', window.HTMLTextAreaElement]]) {
      const d = kind && Object.getOwnPropertyDescriptor(kind.prototype, 'value');
      if (d && d.get && d.set) accessors[tag] = Object.freeze({ get: d.get, set: d.set });
    }
    Object.defineProperty(state, 'valueAccessor', {
      value: (tag) => accessors[tag] || null, enumerable: false, configurable: false, writable: false,
    });
    // Published only once complete, so a capture never sees a half-built state.
    Object.defineProperty(window, KEY, {
      value: state,
      enumerable: false,
      configurable: false,
      writable: false,
    });

    // A Proxy keeps name, length and toString() ("[native code]") of the original.
    // `apply(target, self, args)` must call the original exactly once and return its result.
    const wrap = (owner, name, apply) => {
      const descriptor = Object.getOwnPropertyDescriptor(owner, name);
      if (!descriptor || typeof descriptor.value !== 'function') return;
      const wrapped = new Proxy(descriptor.value, { apply });
      Object.defineProperty(owner, name, { ...descriptor, value: wrapped });
    };
    // Run `after` once the original returned; its errors never reach the page.
    const observe = (owner, name, after) => wrap(owner, name, (target, self, args) => {
      const result = Reflect.apply(target, self, args);
      try {
        after(self, args, result);
      } catch (_) {
        // never break the page
      }
      return result;
    });
    observe(Element.prototype, 'attachShadow', (self, args, root) => {
      const init = args[0];
      if (init && init.mode === 'closed') state.closedRoots.set(self, root);
      state.watchRoot(root);
    });
    const CLICKS = new Set(['click', 'mousedown', 'mouseup', 'pointerdown', 'pointerup',
      'touchstart', 'touchend', 'dblclick']);
    const KEYS = new Set(['keydown', 'keyup', 'keypress']);
    observe(EventTarget.prototype, 'addEventListener', (self, args) => {
      if (CLICKS.has(args[0]) && self instanceof Element) state.clickable.add(self);
      if (KEYS.has(args[0]) && self instanceof Element) state.keyed.add(self);
    });
    // Pending short timers (a debounce, a delayed search); long ones are not "about to change
    // the page". A timer re-armed forever only makes a settle wait reach its bound.
    const SHORT_MS = 1000;
    const timers = state.timers;
    wrap(window, 'setTimeout', (target, self, args) => {
      const fn = args[0];
      if (typeof fn !== 'function' || +args[1] > SHORT_MS) return Reflect.apply(target, self, args);
      let id = 0;
      const call = [...args];
      call[0] = function () {
        timers.delete(id);
        return Reflect.apply(fn, this, arguments);
      };
      id = Reflect.apply(target, self, call);
      timers.add(id);
      return id;
    });
    observe(window, 'clearTimeout', (self, args) => {
      timers.delete(args[0]);
    });
    const done = () => {
      state.requests = Math.max(0, state.requests - 1);
    };
    observe(window, 'fetch', (self, args, promise) => {
      state.requests++;
      if (promise && typeof promise.then === 'function') promise.then(done, done);
      else done();
    });
    if (window.XMLHttpRequest) {
      // listen before sending: a synchronous request ends inside send()
      wrap(XMLHttpRequest.prototype, 'send', (target, self, args) => {
        let counted = false;
        try {
          self.addEventListener('loadend', done, { once: true });
          state.requests++;
          counted = true;
        } catch (_) {
          // never break the page
        }
        try {
          return Reflect.apply(target, self, args);
        } catch (e) {
          if (counted) done();
          throw e;
        }
      });
    }
    state.busy = () => timers.size + state.requests;
  } catch (_) {
    // never break the page
  }
})();
