"""Fixture pages with hard-to-operate controls (written for these tests).

Each page reproduces one way an agent fails on real sites: controls nested inside a clickable
container, icon-only controls made clickable by script, a suggestion list that handles clicks
for its items, a tree whose toggles are bare spans, a readonly date field filled by a picker,
a menu that opens late over a button, a multi-select, a box that must be scrolled to its end.
The e2e tests serve them from the test site (``Site.pages``); the browser tests load them
directly.
"""

from __future__ import annotations

# An e-mail view: the message is one focusable, clickable container; Reply and Forward are
# spans with listeners, centred so the container's centre falls between them; the icons
# show no text (one with a chosen id, one with an icon class, one with a generated id).
MAIL = """<!doctype html><html><head><title>Inbox</title><style>
.msg { border: 1px solid #ccc; padding: 8px; width: 520px; }
.bar { display: flex; justify-content: space-between; width: 320px; margin: 8px auto; }
.bar span { padding: 4px 8px; }
.ico { display: inline-block; width: 18px; height: 18px; background: #888; margin: 2px; }
</style></head><body>
<h1>Inbox</h1>
<div class="msg" id="m1" tabindex="0">
  <p>From: Grace Hopper</p>
  <p>Subject: Quarterly report</p>
  <div class="bar"><span class="act">Reply</span><span class="act">Forward</span></div>
  <span class="ico icon-star"></span><span class="ico" id="trash"></span>
  <span class="ico" id="x9f3k2q7z"></span>
</div>
<p id="status">No action yet.</p>
<script>
  const status = document.getElementById('status');
  const say = (what) => (e) => { e.stopPropagation(); status.textContent = what; };
  for (const s of document.querySelectorAll('.act')) {
    s.addEventListener('click', say(s.textContent + ' started: Quarterly report'));
  }
  document.querySelector('.icon-star').addEventListener('click', say('Starred: Quarterly report'));
  document.getElementById('trash').addEventListener('click', say('Deleted: Quarterly report'));
  document.getElementById('x9f3k2q7z').addEventListener('click', say('Archived'));
  document.getElementById('m1').addEventListener('click', () => {
    status.textContent = 'Opened: Quarterly report';
  });
</script></body></html>"""

# Autocomplete: a debounced search (300 ms) then a simulated request (150 ms) render the
# suggestions; the list handles its items' clicks itself (event delegation).
SUGGEST = """<!doctype html><html><head><title>Flights</title></head><body>
<h1>Find a flight</h1>
<label>Destination <input id="country" autocomplete="off"></label>
<ul id="list" hidden style="cursor:pointer;border:1px solid #999;list-style:none;padding:0;
  margin:0;width:220px"></ul>
<button id="go">Search flights</button>
<p id="out"></p>
<script>
  const C = ['Andorra', 'Angola', 'Anguilla', 'Antigua', 'Argentina', 'Armenia', 'Austria'];
  const input = document.getElementById('country');
  const list = document.getElementById('list');
  let timer = 0;
  const render = (items) => {
    list.replaceChildren(...items.map((c) => {
      const li = document.createElement('li');
      li.textContent = c;
      li.style.padding = '4px';
      return li;
    }));
    list.hidden = items.length === 0;
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const q = input.value.toLowerCase();
      setTimeout(() => render(q ? C.filter((c) => c.toLowerCase().startsWith(q)) : []), 150);
    }, 300);
  });
  list.onclick = (e) => {
    const li = e.target.closest('li');
    if (!li) return;
    input.value = li.textContent;
    list.hidden = true;
  };
  document.getElementById('go').onclick = () => {
    document.getElementById('out').textContent = 'Flights to ' + input.value;
  };
</script></body></html>"""

# A file tree: folders are treeitems whose toggles are bare spans with listeners; files open
# when their name is clicked.
TREE = """<!doctype html><html><head><title>Files</title><style>
.tree, .tree ul { list-style: none; padding-left: 16px; }
.toggle { display: inline-block; width: 14px; }
</style></head><body>
<ul class="tree" role="tree">
  <li role="treeitem" aria-expanded="false"><span class="toggle">▸</span> Pictures
    <ul role="group" hidden><li role="treeitem"><span class="file">cat.png</span></li></ul></li>
  <li role="treeitem" aria-expanded="false"><span class="toggle">▸</span> Documents
    <ul role="group" hidden>
      <li role="treeitem"><span class="file">notes.txt</span></li>
      <li role="treeitem"><span class="file">report.txt</span></li>
    </ul></li>
  <li role="treeitem"><span class="file">readme.md</span></li>
</ul>
<pre id="view">(no file open)</pre>
<script>
  const CONTENT = { 'cat.png': 'a cat', 'notes.txt': 'buy milk', 'report.txt': 'Q3 revenue: 42',
    'readme.md': 'hello' };
  for (const t of document.querySelectorAll('.toggle')) {
    t.addEventListener('click', () => {
      const li = t.parentElement;
      const open = li.getAttribute('aria-expanded') === 'true';
      li.setAttribute('aria-expanded', String(!open));
      li.querySelector('ul').hidden = open;
      t.textContent = open ? '▸' : '▾';
    });
  }
  for (const f of document.querySelectorAll('.file')) {
    f.addEventListener('click', () => {
      document.getElementById('view').textContent =
        'Contents of ' + f.textContent + ': ' + CONTENT[f.textContent];
    });
  }
</script></body></html>"""

# A readonly check-in field filled by a day picker, and a native date input.
DATES = """<!doctype html><html><head><title>Booking</title></head><body>
<h1>Book a room (December 2026)</h1>
<p><label>Check-in <input id="checkin" readonly placeholder="Pick a date"></label></p>
<div id="picker" hidden></div>
<p><label>Check-out <input type="date" id="checkout"></label></p>
<button id="book">Book</button>
<p id="out"></p>
<script>
  const checkin = document.getElementById('checkin');
  const picker = document.getElementById('picker');
  for (let d = 1; d <= 31; d++) {
    const b = document.createElement('button');
    b.textContent = String(d);
    b.setAttribute('aria-label', 'December ' + d + ', 2026');
    picker.append(b);
  }
  checkin.addEventListener('click', () => { picker.hidden = false; });
  picker.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b) return;
    checkin.value = '2026-12-' + b.textContent.padStart(2, '0');
    picker.hidden = true;
  });
  let events = [];
  const checkout = document.getElementById('checkout');
  checkout.addEventListener('input', () => events.push('input'));
  checkout.addEventListener('change', () => events.push('change'));
  document.getElementById('book').onclick = () => {
    document.getElementById('out').textContent =
      'Booked ' + checkin.value + ' to ' + checkout.value + ' (' + events.join(',') + ')';
  };
</script></body></html>"""

# Typing a city starts a delayed search (400 ms) whose menu opens over the Save button and
# stays until a pick or Escape.
LATE = """<!doctype html><html><head><title>Profile</title></head><body>
<h1>Your profile</h1>
<label>City <input id="city" autocomplete="off"></label>
<div style="position:relative">
  <ul id="menu" hidden style="position:absolute;top:0;left:0;width:320px;margin:0;padding:0;
    list-style:none;background:#fff;border:1px solid #333;z-index:5"></ul>
  <button id="save" style="margin-top:8px">Save profile</button>
</div>
<p id="out"></p>
<script>
  const city = document.getElementById('city');
  const menu = document.getElementById('menu');
  city.addEventListener('input', () => {
    setTimeout(() => {
      menu.replaceChildren(...['Paris', 'Parma', 'Paramaribo'].map((c) => {
        const li = document.createElement('li');
        li.setAttribute('role', 'option');
        li.textContent = c;
        li.style.padding = '8px';
        return li;
      }));
      menu.hidden = false;
    }, 400);
  });
  menu.addEventListener('click', (e) => {
    city.value = e.target.textContent;
    menu.hidden = true;
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') menu.hidden = true; });
  document.getElementById('save').onclick = () => {
    document.getElementById('out').textContent = 'Saved city ' + city.value;
  };
</script></body></html>"""

MULTI = """<!doctype html><html><head><title>Pizza</title></head><body>
<h1>Build your pizza</h1>
<label>Toppings <select id="toppings" name="toppings" multiple size="6">
  <option>Cheese</option><option>Ham</option><option>Mushrooms</option>
  <option>Olives</option><option>Peppers</option><option>Pineapple</option>
</select></label>
<button id="order">Order pizza</button>
<p id="out"></p>
<script>
  document.getElementById('order').onclick = () => {
    const chosen = [...document.getElementById('toppings').selectedOptions].map((o) => o.text);
    document.getElementById('out').textContent = 'Toppings: ' + chosen.join(', ');
  };
</script></body></html>"""

# The checkbox is enabled only once the terms box has been scrolled to its end.
TERMS = """<!doctype html><html><head><title>Terms</title></head><body>
<h1>Terms of service</h1>
<div id="terms" tabindex="0" style="height:150px;overflow:auto;border:1px solid #333">
""" + "".join(f"<p>Clause {i}: the service is provided as is, clause {i} applies.</p>"
              for i in range(1, 31)) + """
<p>End of terms.</p></div>
<p><label><input type="checkbox" id="agree" disabled> I have read the terms</label></p>
<button id="next">Continue</button>
<p id="out"></p>
<script>
  const terms = document.getElementById('terms');
  const agree = document.getElementById('agree');
  terms.addEventListener('scroll', () => {
    if (terms.scrollTop + terms.clientHeight >= terms.scrollHeight - 2) agree.disabled = false;
  });
  document.getElementById('next').onclick = () => {
    document.getElementById('out').textContent = agree.checked ? 'Accepted' : 'Please accept the terms';
  };
</script></body></html>"""

PAGES = {
    "/controls/mail": MAIL,
    "/controls/suggest": SUGGEST,
    "/controls/tree": TREE,
    "/controls/dates": DATES,
    "/controls/late": LATE,
    "/controls/multi": MULTI,
    "/controls/terms": TERMS,
}
