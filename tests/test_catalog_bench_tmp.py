import time, sqlalchemy as sa
from datetime import UTC, datetime
from r2d2.catalog import open_catalog, EdgeUpsert
from r2d2.catalog.db import get_engine
def test_bench(catalog_url):
    cat = open_catalog(catalog_url)
    eng = get_engine(catalog_url)
    T0 = datetime(2025,1,1,tzinfo=UTC)
    with eng.begin() as conn:
        conn.execute(sa.text("INSERT INTO tables (location, status, fingerprint, num_bytes, num_files, first_seen, last_seen) VALUES (:loc,'active','fp1',0,0,:t,:t)"),
            [{"loc": f"/b/{i}", "t": T0.replace(tzinfo=None) if eng.dialect.name=="sqlite" else T0} for i in range(150)])
    ids=[t.id for t in cat.list_tables(with_profile=False)]
    rows=[EdgeUpsert(a,b,"fp1","fp1","candidate","schema",evidence={"x":1}) for a in ids for b in ids if a!=b][:20000]
    for k in range(2):
        t=time.perf_counter(); cat.upsert_edges(rows); print(eng.dialect.name, "upsert", time.perf_counter()-t)
    t=time.perf_counter(); d=cat.valid_pair_decisions(); print("valid", time.perf_counter()-t, len(d))
    t=time.perf_counter(); d=cat.list_edges(); print("list", time.perf_counter()-t, len(d))
