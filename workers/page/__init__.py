"""Reading and writing a page: the DOM capture and its element index (``dom.py``/``dom.js``),
where a click lands and settling (``controls``), what covers a target (``overlays``), and
writing a value into a field, secrets included (``field_writer``, the one owner)."""
