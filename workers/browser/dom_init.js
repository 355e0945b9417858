// browserfleet page hooks, installed with context.addInitScript so they run in every frame
// before page scripts. Also run lazily by the capture call in frames that missed it.
// Everything lives under one non-enumerable Symbol.for('browserfleet') property on window.
// - Element.prototype.attachShadow is wrapped so CLOSED shadow roots are remembered (the
//   capture cannot reach them otherwise).
// - A MutationObserver (document + every shadow root) and a few capture-phase event listeners
//   bump a version counter, so a capture can answer "nothing changed" without re-walking.
//   Nodes of our own highlight overlay never bump it.
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
    const onEvent = (e) => {
      if (!own.has(e.target)) state.version++;
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
    // Published only once complete, so a capture never sees a half-built state.
    Object.defineProperty(window, KEY, {
      value: state,
      enumerable: false,
      configurable: false,
      writable: false,
    });

    // A Proxy keeps name, length and toString() ("[native code]") of the original.
    const proto = Element.prototype;
    const descriptor = Object.getOwnPropertyDescriptor(proto, 'attachShadow');
    if (descriptor && typeof descriptor.value === 'function') {
      const wrapped = new Proxy(descriptor.value, {
        apply(target, self, args) {
          const root = Reflect.apply(target, self, args);
          try {
            const init = args[0];
            if (init && init.mode === 'closed') state.closedRoots.set(self, root);
            state.watchRoot(root);
          } catch (_) {
            // never break the page
          }
          return root;
        },
      });
      Object.defineProperty(proto, 'attachShadow', { ...descriptor, value: wrapped });
    }
  } catch (_) {
    // never break the page
  }
})();
