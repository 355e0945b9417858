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
  // One control, whatever its inside looks like: only explicit controls are listed in them
  // (a styled <span> inside a <button> is the button, not a second target).
  const ATOMIC_TAGS = new Set(['a', 'button', 'summary', 'label', 'option']);
  const ATOMIC_ROLES = new Set([
    'button', 'link', 'checkbox', 'radio', 'tab', 'menuitem', 'menuitemcheckbox',
    'menuitemradio', 'option', 'switch',
  ]);
  // A listener on a container this big is event delegation for a whole region (a React
  // root, a list), not a control of its own.
  const MAX_SCRIPTED_NODES = 150;
  // an item holding one of these is not itself the target (the control inside it is)
  const CONTROLS = 'a[href],button,input,select,textarea,summary,[role],[tabindex],[onclick]';
  const MAX_DEPTH = 6;
  const ICON = /(^|[-_])(icon|ico|glyph|fa|fas|far|bi|mdi|ti|ri|ion|octicon|lucide|feather|svg)([-_]|$)|icon/i;
  // names of icon sets, sizes and modifiers, and generated class names: no hint of what it does
  const GENERIC_ICON = new RegExp('^(icons?|ico|fa[srbltd]?|bi|mdi|ti|ri|glyphicons?|' +
    'material-(icons|symbols)(-\\w+)?|svg-inline--fa|icon-(button|btn|only|xs|sm|md|lg|xl|small|large)|' +
    'fa-(fw|xs|sm|lg|xl|\\dx|solid|regular|brands|light|thin|duotone|spin|pulse|border|inverse|stack.*))$' +
    '|\\d{2}|__', 'i');
  const react = (() => {
    const roots = doc.body ? [doc.body, ...doc.body.children] : [];
    return roots.some((n) => Object.keys(n).some((k) => k.startsWith('__reactContainer$')));
  })();

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

  // An id a person chose ("send", "reply-all"), not a generated one ("r1a9f", ":r3:", "ember412").
  const meaningfulId = (v) => {
    if (v.length < 2 || v.length > 40 || !/^[A-Za-z][\w-]*$/.test(v) || /\d{3}/.test(v)) return false;
    return v.split(/[-_]|(?<=[a-z])(?=[A-Z])/).every((w) =>
      w.length < 5 || (!/\d/.test(w) && /[aeiouy]/i.test(w)));
  };
  // The one hint an icon-only control carries: a class like icon-send / fa-trash, on it or
  // on the icon inside it, or the fragment of an SVG sprite (<use href="#icon-close">).
  const iconHint = (el) => {
    const pick = (node) => {
      const cls = node.getAttribute('class');
      if (!cls) return '';
      for (const c of cls.split(/\s+/)) {
        if (c && c.length <= 40 && ICON.test(c) && !GENERIC_ICON.test(c)) return c;
      }
      return '';
    };
    let hint = pick(el);
    if (hint) return hint;
    const inner = el.querySelectorAll('[class], use');
    for (let i = 0; i < inner.length && i < 8; i++) {
      const n = inner[i];
      if (n.localName === 'use') {
        const ref = n.getAttribute('href') || n.getAttribute('xlink:href') || '';
        const frag = ref.split('#')[1];
        if (frag && frag.length <= 40) return frag;
      } else if ((hint = pick(n))) {
        return hint;
      }
    }
    return '';
  };

  // -> [tag and attributes, text]; the caller closes the tag (labels are added later)
  const describe = (el, tag, role, walkedText, container) => {
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
      if (!el.name && !el.placeholder && !el.hasAttribute('aria-label') && !el.title &&
          !(el.labels && el.labels.length) && meaningfulId(el.id)) add('id', el.id);
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
      if (el.readOnly && !BUTTON_INPUTS.has(type)) s += ' readonly';
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
      add('aria-label', label);
      if (el.multiple) {
        // every selected option: the model adds to (or removes from) this set
        s += ' multiple';
        const chosen = [];
        for (const o of el.selectedOptions) chosen.push(clip(o.text, MAX_VALUE));
        add('selected', clip(chosen.join(' | '), 3 * MAX_TEXT));
      } else {
        const o = el.selectedIndex >= 0 ? el.options[el.selectedIndex] : null;
        if (o) add('value', clip(o.text, MAX_VALUE));
      }
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
      // Nothing names it: say what little there is (an id someone chose, an icon class).
      if (!text && !label && !title && !el.hasAttribute('alt')) {
        if (meaningfulId(el.id)) add('id', el.id);
        else if (!container) add('class', iconHint(el));
      }
    }
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') s += ' disabled';
    // expanded/collapsed: tree nodes, menus and disclosure widgets say whether they are open
    const expanded = el.getAttribute('aria-expanded');
    if (expanded === 'true') s += ' expanded';
    else if (expanded === 'false') s += ' collapsed';
    else if (tag === 'summary' && el.parentElement && el.parentElement.localName === 'details') {
      s += el.parentElement.open ? ' expanded' : ' collapsed';
    } else if (tag === 'details') {
      s += el.open ? ' expanded' : ' collapsed';
    }
    add('aria-checked', attr('aria-checked'));
    add('aria-selected', attr('aria-selected'));
    add('aria-pressed', attr('aria-pressed'));
    return [s, text];
  };

  const elements = [];
  const lines = [];
  const depths = [];
  const labels = []; // flat triples: label element, start and end of its text in parts
  // Visible text in flat-tree order (shadow content where it renders, slotted light DOM
  // where its slot is); '\0' marks a block boundary. body.innerText would miss shadow DOM.
  const parts = [];
  const closedRoots = state.closedRoots;

  // The element's own text: parts from `start`, minus the ranges of elements listed inside it
  // (they have lines of their own, so a container does not repeat its controls' text).
  const textSince = (start, skip) => {
    let t = '';
    let r = 0;
    for (let i = start; i < parts.length && t.length < 4 * MAX_TEXT; i++) {
      if (r < skip.length && i === skip[r][0]) {
        i = skip[r][1] - 1;
        r++;
        t += ' ';
        continue;
      }
      t += parts[i];
    }
    return clip(t.replace(/\0/g, ' '), MAX_TEXT);
  };

  // A listed element and the listed elements inside it are listed with their nesting depth.
  // owner: the nearest listed ancestor ({el, depth, atomic, list, skip}) or null; list says
  // which children of a listed list/menu are its items ('li', 'any' or '').
  const scriptedClick = (el) => {
    if (state.clickable.has(el) || el.onmousedown != null) {
      if (el.getElementsByTagName('*').length > MAX_SCRIPTED_NODES) return false;
      const r = el.getBoundingClientRect();
      // an app root or page wrapper listening for its children's clicks
      return r.width * r.height <= 0.5 * window.innerWidth * window.innerHeight;
    }
    if (!react) return false;
    for (const k of Object.keys(el)) {
      if (k.startsWith('__reactProps$')) {
        const p = el[k];
        return !!p && !!(p.onClick || p.onMouseDown || p.onPointerDown);
      }
    }
    return false;
  };

  // owner: see above; null when no ancestor is listed. cursor: the parent's CSS cursor, so
  // that an inherited cursor:pointer is not taken for one of the element's own.
  // shown: text directly inside is visible. targets: false under aria-hidden/inert (still
  // visible text, but nothing there is meant to be operated).
  const walkChildren = (parent, owner, cursor, shown, targets) => {
    if (parent.localName === 'slot') {
      const assigned = parent.assignedNodes({ flatten: true });
      if (assigned.length) {
        for (const n of assigned) visit(n, owner, cursor, shown, targets);
        return;
      }
    }
    for (let n = parent.firstChild; n; n = n.nextSibling) visit(n, owner, cursor, shown, targets);
  };

  const visit = (el, owner, cursor, shown, targets) => {
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
      // Made clickable by script or by its own cursor:pointer; inside a single control
      // (a button, a link) such parts are that control, not targets of their own.
      if (!explicit && tag !== 'body' && tag !== 'html' && !(owner && owner.atomic)) {
        const pointer = st.cursor === 'pointer';
        explicit = (pointer && (!owner || cursor !== 'pointer')) || scriptedClick(el) ||
          // items of a list that handles their clicks itself (event delegation)
          (!!owner && el.parentElement === owner.el && (owner.list === 'li' ? tag === 'li'
            : owner.list === 'any' && !!el.textContent.trim()) && !el.querySelector(CONTROLS));
      }
      listed = explicit && vis && el.checkVisibility() && hasBox(el);
    }
    const slot = listed ? elements.length : -1;
    let inner = owner;
    if (listed) {
      elements.push(el);
      lines.push('');
      depths.push(owner ? Math.min(owner.depth + 1, MAX_DEPTH) : 0);
      inner = {
        el,
        depth: owner ? owner.depth + 1 : 0,
        atomic: ATOMIC_TAGS.has(tag) || ATOMIC_ROLES.has(role),
        list: role === 'listbox' || role === 'menu' ? 'any' : tag === 'ul' || tag === 'ol' ? 'li' : '',
        skip: [],
      };
      if (role && !ROLES.has(role)) role = '';
    }
    const start = parts.length;
    // '\0' = line break, ' ' = gap (cells, inline-blocks such as buttons, and any listed
    // element, so that adjacent links do not run together), '' = flows on
    const gap = display === 'contents' || display === 'inline' ? (listed ? ' ' : '')
      : display.startsWith('inline') || display === 'table-cell' ? ' ' : '\0';
    if (gap) parts.push(gap);

    if (!LEAF.has(tag) && st.contentVisibility !== 'hidden') {
      const root = el.shadowRoot || closedRoots.get(el);
      const c = st.cursor;
      if (root) {
        // light children render only through the root's slots
        state.watchRoot(root);
        walkChildren(root, inner, c, vis, targets);
      } else if (tag === 'details' && !el.open) {
        const summary = el.querySelector(':scope > summary');
        if (summary) visit(summary, inner, c, vis, targets);
      } else {
        walkChildren(el, inner, c, vis, targets);
      }
    }
    if (gap) parts.push(gap);
    if (listed) {
      lines[slot] = describe(el, tag, role, textSince(start, inner.skip), inner.skip.length > 0);
      if (owner) owner.skip.push([start, parts.length]);
    }
    if (tag === 'label') labels.push(el, start, parts.length);
  };
  // While a modal <dialog> is open everything else is inert: list only what is inside it.
  let modal = null;
  try {
    modal = doc.querySelector(':modal');
  } catch (_) {
    // older engine without :modal
  }
  walkChildren(doc, null, 'auto', true, !modal);

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
  for (let i = 0; i < lines.length; i++) {
    lines[i] = '\t'.repeat(depths[i]) + lines[i][0] + '>' + lines[i][1];
  }

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
