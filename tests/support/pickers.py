"""Fixture pages with date pickers and popups (written for these tests, each after how a
common library behaves, none copied from one).

Every page is a real form that POSTs to ``/submit/<page>`` on the test site, which records
the form (``Site.forms``) and answers "Received": tests assert what the page finally sent,
not what an action said. The pickers' calendars start at December 2026 and a target date is
far enough away that walking the calendar month by month costs a dozen steps.
"""

from __future__ import annotations

_MONTHS = (
    "['January','February','March','April','May','June','July','August','September',"
    "'October','November','December']"
)

# jQuery UI's datepicker, as it behaves: a readonly field (placeholder mm/dd/yyyy) opens a
# calendar (Prev/Next, the month's days) on focus or click; choosing a day writes mm/dd/yyyy
# into the field and ISO into an alt field elsewhere in the form, and closes the calendar;
# keyup on the field parses it (jQuery UI's _doKeyUp) and updates the alt field; Escape on
# the field and a mousedown outside close it. The calendar opens over the Submit button.
JQUI = """<!doctype html><html><head><title>Hotel booking</title><style>
#ui-datepicker-div { position: absolute; display: none; background: #fff; border: 1px solid #888;
  padding: 4px; z-index: 10; width: 250px; }
#ui-datepicker-div td a { display: block; padding: 2px 6px; cursor: pointer; }
.ui-datepicker-header a { cursor: pointer; margin-right: 8px; }
</style></head><body>
<h1>Book a room</h1>
<form method="post" action="/submit/jqui">
<p><label>Guest <input name="guest" value="Ada"></label></p>
<p><label>Check-in <input id="checkin" name="checkin" readonly placeholder="mm/dd/yyyy"></label></p>
<p style="padding-left: 90px"><button type="submit">Submit booking</button></p>
<input type="hidden" id="checkin_iso" name="checkin_iso">
</form>
<div id="ui-datepicker-div" class="ui-datepicker"></div>
<script>
(() => {
  const NAMES = """ + _MONTHS + """;
  const input = document.getElementById('checkin');
  const alt = document.getElementById('checkin_iso');
  const div = document.getElementById('ui-datepicker-div');
  let year = 2026, month = 11, shown = false, lastVal = null;
  const pad = (n) => String(n).padStart(2, '0');
  const iso = (d) => d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  const parse = (v) => {
    const m = /^(\\d{2})\\/(\\d{2})\\/(\\d{4})$/.exec(v);
    if (!m) return null;
    const d = new Date(+m[3], +m[1] - 1, +m[2]);
    return d.getMonth() === +m[1] - 1 && d.getDate() === +m[2] ? d : null;
  };
  const render = () => {
    const first = new Date(year, month, 1).getDay();
    const days = new Date(year, month + 1, 0).getDate();
    let html = '<div class="ui-datepicker-header">' +
      '<a class="ui-datepicker-prev" data-handler="prev">Prev</a>' +
      '<a class="ui-datepicker-next" data-handler="next">Next</a>' +
      '<span class="ui-datepicker-title">' + NAMES[month] + ' ' + year + '</span></div>' +
      '<table class="ui-datepicker-calendar"><tbody><tr>';
    for (let i = 0; i < first; i++) html += '<td></td>';
    for (let d = 1; d <= days; d++) {
      html += '<td><a data-day="' + d + '">' + d + '</a></td>';
      if ((first + d) % 7 === 0) html += '</tr><tr>';
    }
    div.innerHTML = html + '</tr></tbody></table>';
  };
  const show = () => {
    if (shown) return;
    const r = input.getBoundingClientRect();
    div.style.left = (r.left + scrollX) + 'px';
    div.style.top = (r.bottom + scrollY) + 'px';
    const d = parse(input.value);
    if (d) { year = d.getFullYear(); month = d.getMonth(); }
    render();
    div.style.display = 'block';
    shown = true;
  };
  const hide = () => { div.style.display = 'none'; shown = false; };
  input.addEventListener('focus', show);
  input.addEventListener('click', show);
  input.addEventListener('keydown', (e) => { if (e.keyCode === 27) hide(); });
  input.addEventListener('keyup', () => {
    if (input.value === lastVal) return;
    lastVal = input.value;
    const d = parse(input.value);
    if (d) {
      alt.value = iso(d);
      year = d.getFullYear(); month = d.getMonth();
      if (shown) render();
    }
  });
  div.addEventListener('click', (e) => {
    const a = e.target.closest('a');
    if (!a) return;
    if (a.dataset.handler === 'prev') { month--; if (month < 0) { month = 11; year--; } render(); return; }
    if (a.dataset.handler === 'next') { month++; if (month > 11) { month = 0; year++; } render(); return; }
    const d = new Date(year, month, +a.dataset.day);
    input.value = pad(d.getMonth() + 1) + '/' + pad(d.getDate()) + '/' + d.getFullYear();
    lastVal = input.value;
    alt.value = iso(d);
    hide();
    input.dispatchEvent(new Event('change', { bubbles: true }));
  });
  document.addEventListener('mousedown', (e) => {
    if (shown && !div.contains(e.target) && e.target !== input) hide();
  });
})();
</script></body></html>"""

# A React-controlled form, with React's own mechanics written out: each input gets an own
# `value` property that records what scripts set (React's value tracker), an `input` event
# reaches onChange only when the field's real value differs from the tracked one, and after
# the handler the field shows the state again (a controlled input). The delivery date
# (readonly, MM/DD/YYYY, a calendar from December 2026) accepts a typed date, as
# react-datepicker does; the delivery slot accepts only a choice from its own list and
# reverts anything else. Submit posts the app's *state*, not the fields.
REACT = """<!doctype html><html><head><title>Order</title><style>
#slots, #cal { position: absolute; background: #fff; border: 1px solid #888; margin: 0; padding: 4px;
  width: 240px; z-index: 5; }
#slots { list-style: none; }
#slots li { padding: 6px; cursor: pointer; }
#cal a { display: inline-block; width: 28px; cursor: pointer; }
</style></head><body>
<h1>Delivery details</h1>
<form id="form" method="post" action="/submit/react">
<p><label>Delivery date <input id="date" readonly placeholder="MM/DD/YYYY"></label></p>
<div id="cal" class="react-datepicker" hidden></div>
<p><label>Delivery slot <input id="slot" readonly placeholder="Choose a slot"></label></p>
<ul id="slots" role="listbox" hidden>
  <li role="option" data-slot="mon-am">Mon 9-12</li><li role="option" data-slot="tue-pm">Tue 13-17</li>
  <li role="option" data-slot="wed-pm">Wed 13-17</li></ul>
<input type="hidden" name="date"><input type="hidden" name="slot">
<button type="submit">Place order</button>
</form>
<script>
(() => {
  const NAMES = """ + _MONTHS + """;
  const state = { date: '', slot: '', slotLabel: '' };
  const native = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value');
  const controlled = (input, shown, onChange) => {
    let tracked = native.get.call(input);
    Object.defineProperty(input, 'value', {
      configurable: true,
      get() { return native.get.call(this); },
      set(v) { tracked = String(v); native.set.call(this, v); },
    });
    const render = () => { if (input.value !== shown()) input.value = shown(); };
    input.addEventListener('input', () => {
      const now = native.get.call(input);
      if (now === tracked) return;
      tracked = now;
      onChange(now);
      render();
    });
    return render;
  };
  const pad = (n) => String(n).padStart(2, '0');
  const fmt = (iso) => iso ? iso.slice(5, 7) + '/' + iso.slice(8, 10) + '/' + iso.slice(0, 4) : '';
  const date = document.getElementById('date');
  const cal = document.getElementById('cal');
  const slot = document.getElementById('slot');
  const list = document.getElementById('slots');
  const renderDate = controlled(date, () => fmt(state.date), (v) => {
    const m = /^(\\d{2})\\/(\\d{2})\\/(\\d{4})$/.exec(v);
    const d = m && new Date(+m[3], +m[1] - 1, +m[2]);
    if (d && d.getDate() === +m[2]) state.date = m[3] + '-' + m[1] + '-' + m[2];
  });
  const renderSlot = controlled(slot, () => state.slotLabel, () => {});
  let year = 2026, month = 11;
  const drawCal = () => {
    let html = '<a data-go="-1">Prev</a> <a data-go="1">Next</a> ' +
      '<b>' + NAMES[month] + ' ' + year + '</b><br>';
    const days = new Date(year, month + 1, 0).getDate();
    for (let d = 1; d <= days; d++) html += '<a data-day="' + d + '">' + d + '</a>';
    cal.innerHTML = html;
  };
  date.addEventListener('click', () => { drawCal(); cal.hidden = false; });
  cal.addEventListener('click', (e) => {
    const a = e.target.closest('a');
    if (!a) return;
    if (a.dataset.go) {
      month += +a.dataset.go;
      if (month < 0) { month = 11; year--; } else if (month > 11) { month = 0; year++; }
      drawCal();
      return;
    }
    state.date = year + '-' + pad(month + 1) + '-' + pad(+a.dataset.day);
    cal.hidden = true;
    renderDate();
  });
  slot.addEventListener('click', () => { list.hidden = false; });
  list.addEventListener('click', (e) => {
    const li = e.target.closest('li');
    if (!li) return;
    state.slot = li.dataset.slot;
    state.slotLabel = li.textContent;
    list.hidden = true;
    renderSlot();
  });
  document.getElementById('form').addEventListener('submit', () => {
    document.querySelector('[name=date]').value = state.date;
    document.querySelector('[name=slot]').value = state.slot;
  });
  renderDate();
})();
</script></body></html>"""

# Native inputs on a British page: a date whose label gives its format, one with no hint
# (the browser shows MM/DD/YYYY, the page's language says day first: ambiguous), a time, a
# month and a week.
NATIVE = """<!doctype html><html lang="en-GB"><head><title>Trip</title></head><body>
<h1>Plan a trip</h1>
<form method="post" action="/submit/native">
<p><label>Departure (DD/MM/YYYY) <input type="date" name="depart"></label></p>
<p><label>Return <input type="date" name="return"></label></p>
<p><label>Pick-up time <input type="time" name="pickup"></label></p>
<p><label>Card expiry <input type="month" name="expiry"></label></p>
<p><label>Office week <input type="week" name="week"></label></p>
<button type="submit">Save trip</button>
</form></body></html>"""

# flatpickr with altInput, as it behaves: the form sends a hidden input (name=date, ISO) that
# only the calendar fills; the visible field (readonly, no name) shows "December 20, 2026".
# Typing or setting the visible field changes nothing the form sends.
ALT = """<!doctype html><html><head><title>Appointment</title><style>
.flatpickr-calendar { position: absolute; background: #fff; border: 1px solid #888; z-index: 5;
  display: none; width: 240px; }
.flatpickr-calendar.open { display: block; }
.flatpickr-day { display: inline-block; width: 30px; text-align: center; cursor: pointer; }
</style></head><body>
<h1>Book an appointment (December 2026)</h1>
<form method="post" action="/submit/alt">
<p><label for="when">Day</label>
<input type="hidden" name="date"><input id="when" class="flatpickr-input" readonly
  placeholder="Select a day"></p>
<button type="submit">Book</button>
</form>
<div class="flatpickr-calendar"><div class="flatpickr-month">December 2026</div></div>
<script>
(() => {
  const NAMES = """ + _MONTHS + """;
  const hidden = document.querySelector('[name=date]');
  const shown = document.getElementById('when');
  const cal = document.querySelector('.flatpickr-calendar');
  for (let d = 1; d <= 31; d++) {
    const span = document.createElement('span');
    span.className = 'flatpickr-day';
    span.textContent = String(d);
    span.setAttribute('aria-label', 'December ' + d + ', 2026');
    cal.append(span);
  }
  shown.addEventListener('click', () => {
    const r = shown.getBoundingClientRect();
    cal.style.left = r.left + 'px';
    cal.style.top = (r.bottom + scrollY) + 'px';
    cal.classList.add('open');
  });
  cal.addEventListener('click', (e) => {
    const day = e.target.closest('.flatpickr-day');
    if (!day) return;
    const d = +day.textContent;
    hidden.value = '2026-12-' + String(d).padStart(2, '0');
    shown.value = NAMES[11] + ' ' + d + ', 2026';
    cal.classList.remove('open');
  });
})();
</script></body></html>"""

# A multi-choice dropdown that stays open after each choice (MUI's disableCloseOnSelect):
# its list opens over the Submit button; options take focus when clicked, and the widget
# listens for Escape on its own field only (not on the options, not on the document); a
# mousedown outside closes it too.
STAYS_OPEN = """<!doctype html><html><head><title>Newsletter</title><style>
.wrap { position: relative; width: 300px; }
#topics-list { position: absolute; top: 100%; left: 0; width: 300px; background: #fff; margin: 0;
  border: 1px solid #888; list-style: none; padding: 0; z-index: 5; }
#topics-list li { padding: 10px; cursor: pointer; }
#topics-list li[aria-selected=true] { background: #def; }
</style></head><body>
<h1>Subscribe</h1>
<form method="post" action="/submit/stays-open">
<div class="wrap">
  <label>Topics <input id="topics" role="combobox" aria-controls="topics-list" aria-expanded="false"
    readonly placeholder="Choose topics"></label>
  <ul id="topics-list" class="MuiAutocomplete-listbox" role="listbox" hidden>
    <li role="option" tabindex="-1">Science</li><li role="option" tabindex="-1">Travel</li>
    <li role="option" tabindex="-1">Cooking</li><li role="option" tabindex="-1">Music</li></ul>
</div>
<input type="hidden" name="topics">
<p><button type="submit">Subscribe</button></p>
</form>
<script>
(() => {
  const field = document.getElementById('topics');
  const list = document.getElementById('topics-list');
  const hidden = document.querySelector('[name=topics]');
  const chosen = [];
  const open = (yes) => { list.hidden = !yes; field.setAttribute('aria-expanded', String(yes)); };
  field.addEventListener('click', () => open(true));
  field.addEventListener('keydown', (e) => { if (e.key === 'Escape') open(false); });
  list.addEventListener('click', (e) => {
    const li = e.target.closest('li');
    if (!li) return;
    const i = chosen.indexOf(li.textContent);
    if (i >= 0) chosen.splice(i, 1); else chosen.push(li.textContent);
    li.setAttribute('aria-selected', String(i < 0));
    field.value = chosen.join(', ');
    hidden.value = chosen.join(',');
  });
  document.addEventListener('mousedown', (e) => {
    if (!list.hidden && !list.contains(e.target) && e.target !== field) open(false);
  });
})();
</script></body></html>"""

PAGES = {
    "/pickers/jqui": JQUI,
    "/pickers/react": REACT,
    "/pickers/native": NATIVE,
    "/pickers/alt": ALT,
    "/pickers/stays-open": STAYS_OPEN,
}

# A page that guards its field against scripts: the `value` setter throws, on the prototype
# and on the field itself, and so does the field's focus(). The form still sends whatever
# the field holds.
HOSTILE = """<!doctype html><html><head><title>Guarded</title></head><body>
<h1>Arrival</h1>
<form method="post" action="/submit/hostile">
<p><label>Arrival <input id="arrival" name="arrival" readonly placeholder="YYYY-MM-DD"></label></p>
<button type="submit">Send</button>
</form>
<script>
  const d = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value');
  const guard = { configurable: true, get() { return d.get.call(this); },
    set() { throw new Error('value is read-only here'); } };
  Object.defineProperty(HTMLInputElement.prototype, 'value', guard);
  const arrival = document.getElementById('arrival');
  Object.defineProperty(arrival, 'value', guard);
  arrival.focus = () => { throw new Error('no focus'); };
</script></body></html>"""

# A readonly field whose change submits its form at once (the page navigates mid-action).
NAVIGATES = """<!doctype html><html><head><title>Quick</title></head><body>
<h1>Pick and go</h1>
<form method="post" action="/submit/navigates">
<p><label>Leave on <input name="leave" readonly placeholder="YYYY-MM-DD"
  onchange="this.form.submit()"></label></p>
</form></body></html>"""

# Inside a frame of another site (the test serves it as http://localhost:<port>, the outer
# page as 127.0.0.1): a readonly field that shows its format, and the frame's own form.
INNER = """<!doctype html><html><head><title>Inner</title></head><body>
<form method="post" action="/submit/inner">
<label>Day <input name="day" readonly placeholder="dd.mm.yyyy"></label>
<button type="submit">Send day</button>
</form></body></html>"""

OUTER = """<!doctype html><html><head><title>Outer</title></head><body>
<h1>Outer page</h1>
<iframe src="{inner}" width="600" height="200"></iframe>
</body></html>"""

# A menu that a person closes only with its own Close button: Escape and clicks outside do
# nothing. It covers the Submit button.
STUBBORN = """<!doctype html><html><head><title>Export</title><style>
.wrap { position: relative; }
.dropdown-menu { position: absolute; top: 28px; left: 0; width: 260px; background: #fff;
  border: 1px solid #888; padding: 4px; z-index: 5; }
.dropdown-menu td a { display: block; padding: 6px; cursor: pointer; }
</style></head><body>
<h1>Export</h1>
<form method="post" action="/submit/stubborn">
<div class="wrap">
  <button type="button" id="fmt" aria-haspopup="true" aria-controls="menu">Format:
    <span id="chosen">csv</span></button>
  <div id="menu" class="dropdown-menu"><table><tr><td><a>csv</a></td><td><a>json</a></td></tr>
    <tr><td><a>xml</a></td><td><a>yaml</a></td></tr></table>
    <button type="button" id="close">Close</button></div>
</div>
<input type="hidden" name="format" value="csv">
<p><button type="submit">Export now</button></p>
</form>
<script>
  const menu = document.getElementById('menu');
  document.getElementById('fmt').addEventListener('click', () => { menu.hidden = false; });
  menu.addEventListener('click', (e) => {
    const a = e.target.closest('a');
    if (a) {
      document.getElementById('chosen').textContent = a.textContent;
      document.querySelector('[name=format]').value = a.textContent;
    }
  });
  document.getElementById('close').addEventListener('click', () => { menu.hidden = true; });
</script></body></html>"""

# A readonly date of birth for a secret, and the same field in a sandboxed frame that sends
# whatever it gets to an "attacker" ({attacker}).
SECRET = """<!doctype html><html><head><title>Profile</title></head><body>
<h1>Your profile</h1>
<form method="post" action="/submit/secret">
<p><label>Date of birth <input name="dob" readonly placeholder="YYYY-MM-DD"></label></p>
<button type="submit">Save profile</button>
</form>
<iframe sandbox="allow-scripts" srcdoc="{frame}"></iframe>
</body></html>"""

MORE_PAGES = {
    "/pickers/hostile": HOSTILE,
    "/pickers/navigates": NAVIGATES,
    "/pickers/inner": INNER,
    "/pickers/stubborn": STUBBORN,
}
