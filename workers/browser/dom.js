// browserfleet page capture, evaluated per frame by workers/browser/dom.py (which prepends
// dom_init.js so frames that missed the init script still work). One function, three ops:
//   capture:     {op, since, captureId, textChars, child} -> page data + one line per element
//   highlight:   {op, offset, captureId} -> number of boxes drawn
//   unhighlight: {op} -> null
// Element lines are formatted here (not in Python) so a 2,000-element page costs one string
// over the wire instead of 2,000 objects.
(req) => {
  const state = window[Symbol.for('browserfleet')];
  const own = state.ownNodes;

  const removeOverlay = () => {
    const host = state.overlay;
    state.overlay = null;
    state.overlayRoot = null;
    if (host) host.remove();
  };

  if (req.op === 'unhighlight') {
    removeOverlay();
    return null;
  }
  if (req.op === 'highlight') {
    removeOverlay();
    if (state.captureId !== req.captureId) return 0;
    return drawOverlay(req.offset);
  }

  state.listen();
  state.flush();
  const doc = document;
  const scroller = doc.scrollingElement || doc.documentElement;
  const href = location.href;
  const token = state.epoch + ':' + state.version;
  const base = {
    token,
    href,
    title: doc.title || '',
    scrollY: Math.round(window.scrollY),
    innerHeight: window.innerHeight,
    scrollHeight: scroller ? scroller.scrollHeight : 0,
  };
  // A zero-size iframe shows nothing; skip it without walking.
  if (req.child && (window.innerWidth === 0 || window.innerHeight === 0)) {
    return { ...base, invisible: true };
  }
  if (req.since && req.since === token && req.captureId === state.captureId &&
      state.lastHref === href) {
    return { ...base, unchanged: true, captureId: state.captureId };
  }

  const MAX_TEXT = 80;
  const MAX_VALUE = 60;
  const MAX_HREF = 80;
  const SKIP = new Set([
    'script', 'style', 'noscript', 'template', 'head', 'meta', 'link', 'title', 'base',
    'iframe', 'frame', 'object', 'embed', 'br', 'wbr', 'hr', 'option', 'optgroup', 'datalist',
    'track', 'source', 'param', 'map', 'area',
  ]);
  // Children of these are never separate targets (or are not rendered at all).
  const LEAF = new Set([
    'svg', 'select', 'textarea', 'input', 'canvas', 'video', 'audio', 'img', 'picture', 'math',
  ]);
  const ROLES = new Set([
    'button', 'link', 'checkbox', 'radio', 'tab', 'menuitem', 'menuitemcheckbox',
    'menuitemradio', 'option', 'switch', 'combobox', 'textbox', 'searchbox', 'slider',
    'spinbutton', 'treeitem',
  ]);
  const BUTTON_INPUTS = new Set(['button', 'submit', 'reset']);

  const clip = (value, max) => {
    const v = value.replace(/\s+/g, ' ').trim();
    return v.length > max ? v.slice(0, max - 1) + '…' : v;
  };
  // Quote only when needed: this text goes into every LLM prompt.
  const quote = (v) => (v === '' || /[\s"'=<>`]/.test(v) ? '"' + v.replace(/"/g, '\\"') + '"' : v);

  const hasBox = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width > 1 && r.height > 1) return true;
    // e.g. <a> whose only child is absolutely positioned
    const child = el.firstElementChild;
    if (!child || (r.width > 0 && r.height > 0)) return r.width > 0 && r.height > 0;
    const c = child.getBoundingClientRect();
    return c.width > 1 && c.height > 1;
  };

  // -> [tag and attributes, text]; the caller closes the tag (labels are added later)
  const describe = (el, tag, role, walkedText) => {
    let s = '<' + tag;
    let text = '';
    const add = (k, v) => {
      if (v) s += ' ' + k + '=' + quote(v);
    };
    const attr = (k) => {
      const v = el.getAttribute(k);
      return v === null ? '' : clip(v, MAX_VALUE);
    };
    if (tag === 'input') {
      const type = el.type || 'text';
      if (type !== 'text') add('type', type);
      add('name', attr('name'));
      add('role', role);
      add('aria-label', attr('aria-label'));
      add('placeholder', attr('placeholder'));
      add('title', attr('title'));
      if (type === 'checkbox' || type === 'radio') {
        if (el.checked) s += ' checked';
      } else if (BUTTON_INPUTS.has(type)) {
        text = clip(el.value || '', MAX_TEXT);
      } else if (type === 'image') {
        text = clip(el.alt || '', MAX_TEXT);
      } else if (el.value) {
        add('value', type === 'password' ? '•'.repeat(Math.min(el.value.length, MAX_VALUE))
          : clip(el.value, MAX_VALUE));
      }
      if (el.disabled) s += ' disabled';
      if (el.readOnly) s += ' readonly';
      if (el.required) s += ' required';
      return [s, text];
    }
    if (tag === 'a') {
      const h = el.getAttribute('href') || '';
      if (!/^\s*javascript:/i.test(h)) add('href', clip(h, MAX_HREF));
    } else if (tag === 'select' || tag === 'textarea' || tag === 'button') {
      add('type', tag === 'button' ? attr('type') : '');
      add('name', attr('name'));
    }
    add('role', role);
    const label = attr('aria-label');
    if (tag === 'select') {
      const o = el.selectedIndex >= 0 ? el.options[el.selectedIndex] : null;
      add('aria-label', label);
      if (o) add('value', clip(o.text, MAX_VALUE));
      if (el.multiple) s += ' multiple';
      const names = [];
      let len = 0;
      for (const opt of el.options) {
        const t = clip(opt.text, MAX_VALUE);
        names.push(t);
        len += t.length + 3;
        if (len > MAX_TEXT) break;
      }
      text = clip(names.join(' | '), MAX_TEXT);
    } else if (tag === 'textarea') {
      add('aria-label', label);
      add('placeholder', attr('placeholder'));
      if (el.value) add('value', clip(el.value, MAX_VALUE));
    } else {
      text = walkedText;
      if (!text && !label) {
        const img = el.querySelector('img[alt]');
        if (img) text = clip(img.alt, MAX_TEXT);
      }
      if (label !== text) add('aria-label', label);
      const title = attr('title');
      if (title !== text && title !== label) add('title', title);
      add('alt', attr('alt'));
      if (el.hasAttribute('contenteditable') && el.isContentEditable) s += ' contenteditable';
    }
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') s += ' disabled';
    add('aria-expanded', attr('aria-expanded'));
    add('aria-checked', attr('aria-checked'));
    add('aria-selected', attr('aria-selected'));
    add('aria-pressed', attr('aria-pressed'));
    if (tag === 'summary' && el.parentElement && el.parentElement.localName === 'details') {
      s += el.parentElement.open ? ' open' : '';
    }
    return [s, text];
  };

  const elements = [];
  const lines = [];
  const labels = []; // flat triples: label element, start and end of its text in parts
  // Visible text in flat-tree order (shadow content where it renders, slotted light DOM
  // where its slot is); '\0' marks a block boundary. body.innerText would miss shadow DOM.
  const parts = [];
  const closedRoots = state.closedRoots;

  const textSince = (start) => {
    let t = '';
    for (let i = start; i < parts.length && t.length < 4 * MAX_TEXT; i++) t += parts[i];
    return clip(t.replace(/\0/g, ' '), MAX_TEXT);
  };

  // covered: an ancestor is already listed, so an inherited cursor:pointer means nothing.
  // shown: text directly inside is visible. targets: false under aria-hidden/inert (still
  // visible text, but nothing there is meant to be operated).
  const walkChildren = (parent, covered, shown, targets) => {
    if (parent.localName === 'slot') {
      const assigned = parent.assignedNodes({ flatten: true });
      if (assigned.length) {
        for (const n of assigned) visit(n, covered, shown, targets);
        return;
      }
    }
    for (let n = parent.firstChild; n; n = n.nextSibling) visit(n, covered, shown, targets);
  };

  const visit = (el, covered, shown, targets) => {
    const type = el.nodeType;
    if (type === 3) {
      if (shown) parts.push(el.nodeValue);
      return;
    }
    if (type !== 1) return;
    const tag = el.localName;
    if (tag === 'br') {
      parts.push('\0');
      return;
    }
    if (SKIP.has(tag) || own.has(el)) return;
    const st = getComputedStyle(el);
    const display = st.display;
    if (display === 'none') return;
    const vis = st.visibility === 'visible';
    if (el === modal) targets = true;
    if (targets && (el.inert || el.getAttribute('aria-hidden') === 'true')) targets = false;

    let listed = false;
    let role = '';
    if (targets) {
      let explicit = false;
      role = el.getAttribute('role') || '';
      switch (tag) {
        case 'a':
          explicit = el.hasAttribute('href');
          break;
        case 'button':
        case 'select':
        case 'textarea':
        case 'summary':
          explicit = true;
          break;
        case 'input':
          explicit = el.type !== 'hidden';
          break;
        case 'details':
          explicit = !el.querySelector(':scope > summary');
          break;
        case 'label': {
          // a styled label in front of a hidden checkbox is the only way to toggle it
          const control = el.control;
          explicit = !!control && !control.checkVisibility({ opacityProperty: false });
          break;
        }
        default:
          break;
      }
      if (!explicit) {
        explicit = (role !== '' && ROLES.has(role)) || el.onclick != null ||
          (el.hasAttribute('tabindex') && el.tabIndex >= 0) ||
          (el.hasAttribute('contenteditable') && el.isContentEditable &&
            !(el.parentElement && el.parentElement.isContentEditable));
      }
      listed = (explicit ||
        (!covered && st.cursor === 'pointer' && tag !== 'body' && tag !== 'html')) &&
        vis && el.checkVisibility() && hasBox(el);
    }
    const slot = listed ? elements.length : -1;
    if (listed) {
      elements.push(el);
      lines.push('');
      if (role && !ROLES.has(role)) role = '';
    }
    const start = parts.length;
    // '\0' = line break, ' ' = gap (cells, inline-blocks such as buttons, and any listed
    // element, so that adjacent links do not run together), '' = flows on
    const gap = display === 'contents' || display === 'inline' ? (listed ? ' ' : '')
      : display.startsWith('inline') || display === 'table-cell' ? ' ' : '\0';
    if (gap) parts.push(gap);

    if (!LEAF.has(tag) && st.contentVisibility !== 'hidden') {
      const inner = covered || listed;
      const root = el.shadowRoot || closedRoots.get(el);
      if (root) {
        // light children render only through the root's slots
        state.watchRoot(root);
        walkChildren(root, inner, vis, targets);
      } else if (tag === 'details' && !el.open) {
        const summary = el.querySelector(':scope > summary');
        if (summary) visit(summary, inner, vis, targets);
      } else {
        walkChildren(el, inner, vis, targets);
      }
    }
    if (gap) parts.push(gap);
    if (listed) lines[slot] = describe(el, tag, role, textSince(start));
    if (tag === 'label') labels.push(el, start, parts.length);
  };
  // While a modal <dialog> is open everything else is inert: list only what is inside it.
  let modal = null;
  try {
    modal = doc.querySelector(':modal');
  } catch (_) {
    // older engine without :modal
  }
  walkChildren(doc, false, true, !modal);

  // <label>Email <input></label> or <label for=...>: the label names the control, which
  // often has no other name. Done after the walk: a label may follow its control.
  if (labels.length) {
    const slots = new Map();
    elements.forEach((el, i) => slots.set(el, i));
    for (let i = 0; i < labels.length; i += 3) {
      const control = labels[i].control;
      const at = control ? slots.get(control) : undefined;
      if (at === undefined) continue;
      const stop = Math.min(labels[i + 2], labels[i + 1] + 64);
      const name = clip(parts.slice(labels[i + 1], stop).join('').replace(/\0/g, ' '), MAX_VALUE);
      const line = lines[at];
      if (name && line[1] !== name && !line[0].includes(' label=') &&
          !line[0].includes('=' + quote(name))) {
        line[0] += ' label=' + quote(name);
      }
    }
  }
  for (let i = 0; i < lines.length; i++) lines[i] = lines[i][0] + '>' + lines[i][1];

  // Document-relative tops: the prompt may show only the elements near the viewport.
  const scrollTop = window.scrollY;
  const tops = elements.map((el) => Math.round(el.getBoundingClientRect().top + scrollTop));
  state.elements = elements;
  state.captureId = Math.random().toString(36).slice(2, 10);
  state.lastHref = href;

  let text = parts.join('').replace(/[\s\u200b]+/g, ' ').replace(/ ?\0[\0 ]*/g, '\n').trim();
  const textLength = text.length;
  if (text.length > req.textChars) text = text.slice(0, req.textChars);
  return {
    ...base,
    captureId: state.captureId,
    lines: lines.join('\n'),
    tops,
    count: elements.length,
    text,
    textLength,
  };

  // Built with DOM calls and CSSOM only: innerHTML breaks under Trusted Types and <style>
  // elements under a strict CSP.
  function drawOverlay(offset) {
    const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#008080',
      '#9a6324', '#800000', '#808000', '#000075'];
    const vw = window.innerWidth;
    const vh = window.innerHeight;
    const host = document.createElement('div');
    own.add(host);
    host.style.cssText = 'all:initial!important;position:fixed!important;inset:0!important;' +
      'width:100%!important;height:100%!important;margin:0!important;padding:0!important;' +
      'border:0!important;background:transparent!important;overflow:visible!important;' +
      'pointer-events:none!important;z-index:2147483647!important;display:block!important;';
    host.setAttribute('popover', 'manual');
    const root = state.attachShadow.call(host, { mode: 'closed' });
    let drawn = 0;
    state.elements.forEach((el, i) => {
      if (!el.isConnected) return;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || r.bottom < 0 || r.right < 0 || r.top > vh ||
          r.left > vw) return;
      const color = COLORS[(offset + i) % COLORS.length];
      const box = document.createElement('div');
      box.style.cssText = `position:absolute;box-sizing:border-box;pointer-events:none;` +
        `left:${r.left}px;top:${r.top}px;width:${r.width}px;height:${r.height}px;` +
        `border:2px solid ${color}`;
      const label = document.createElement('span');
      label.style.cssText = `position:absolute;left:0;top:${r.top >= 15 ? -15 : 0}px;` +
        `background:${color};color:#fff;font:bold 11px/13px monospace;padding:0 3px;` +
        'white-space:nowrap';
      label.textContent = String(offset + i);
      box.appendChild(label);
      root.appendChild(box);
      drawn++;
    });
    (document.documentElement || document).appendChild(host);
    try {
      host.showPopover(); // top layer: above modal dialogs too
    } catch (_) {
      // z-index alone
    }
    state.overlay = host;
    state.overlayRoot = root;
    return drawn;
  }
}
