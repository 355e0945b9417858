import time, os, signal
from tests.e2e.test_browser_faults import _kill_browsers, _statuses, TERMINAL, script_id, step, fault_worker, fault_producer  # noqa

def test_repro(fault_worker, fault_producer, fake_llm, site, redis_client):
    stuck = []
    for round_, delay in enumerate([0.3, 0.6, 0.9, 1.2, 0.45, 0.75, 1.5, 0.15]):
        ids = []
        for n in range(8):
            sid = script_id(f"r{round_}-{n}")
            fake_llm.script(sid, [step({"wait": {"seconds": 0.2}}), step({"done": {"text": "ok"}})])
            ids.append(str(fault_producer.create_task({"task": f"Open. [[script:{sid}]]", "startUrl": site.url, "vision": False}).id))
        time.sleep(delay)
        k = _kill_browsers(fault_worker)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(s in TERMINAL for s in _statuses(fault_producer, ids).values()):
            time.sleep(0.2)
        st = _statuses(fault_producer, ids)
        print("ROUND", round_, delay, k, {i[:6]: (s.value, (fault_producer.get_task(i).error or "")[:60]) for i, s in st.items()})
        stuck += [i for i, s in st.items() if s not in TERMINAL]
    print("STUCK", stuck)
    print(fault_worker.log()[-6000:])
