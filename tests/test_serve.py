"""`latentforge serve`: the HTTP API (latentforge.serve) on tiny runs trained once in a tmp
folder (a stacked_ae, a vae and a dcgan), through FastAPI's TestClient; the upload limits
and checks, the cache of loaded runs, the OpenAPI description, the CLI's errors, and one
real uvicorn server on 127.0.0.1."""
from __future__ import annotations

import base64
import io
import os
import socket
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("fastapi_offline")
from fastapi.testclient import TestClient  # noqa: E402

import latentforge as lf  # noqa: E402
from conftest import assert_one_error_line, tiny_overrides  # noqa: E402
from latentforge import rundir  # noqa: E402
from latentforge.serve import app as serve_app  # noqa: E402
from latentforge.serve.app import create_app  # noqa: E402
from latentforge.serve.cache import RunCache  # noqa: E402
from latentforge.serve.limits import MAX_UPLOAD_BYTES  # noqa: E402

MODELS = ("stacked_ae", "vae", "dcgan")
ALL = ["encode", "reconstruct", "decode", "generate", "interpolate", "anomaly", "similar",
       "map"]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """RUNS/<model> for each of MODELS, trained one epoch on digits (1 x 8 x 8)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("serve")
    for name in MODELS:
        lf.train(name, overrides=tiny_overrides(name, epochs=1), run_dir=root / name)
    (root / "not-a-run").mkdir()  # folders that are not runs are not listed
    return root


@pytest.fixture(scope="module")
def client(runs_dir):
    with TestClient(create_app(runs_dir)) as c:
        yield c


def png_of(array: np.ndarray, mode: str | None = None) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, format="PNG")
    return out.getvalue()


def item_png(runs_dir, index: int = 3) -> tuple[bytes, torch.Tensor]:
    """(PNG bytes, float (1, 8, 8)) of the vae run's test item `index`."""
    x = lf.load_run(runs_dir / "vae").split("test").x[index]
    return png_of(x[0].numpy()), x.float() / 255


def upload(png: bytes) -> dict:
    return {"files": {"image": ("item.png", png, "image/png")}}


def decoded(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def detail(response, status: int) -> str:
    assert response.status_code == status, response.text
    text = response.json()["detail"]
    assert isinstance(text, str) and text
    return text


# ----------------------------------------------------------------------------- runs


def test_runs_are_listed_with_what_they_can_do(client, runs_dir):
    runs = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert sorted(runs) == sorted(MODELS)
    assert runs["vae"]["endpoints"] == ALL
    assert runs["stacked_ae"]["endpoints"] == [e for e in ALL if e != "generate"]
    assert runs["dcgan"]["endpoints"] == ["decode", "generate", "interpolate", "anomaly"]
    vae = runs["vae"]
    assert vae["model"] == "vae" and vae["recipe"] == "book" and vae["epochs"] == 1
    assert vae["sample_shape"] == [1, 8, 8] and vae["latent_dim"] == 2
    assert "posterior" in vae["capabilities"] and "generate" in vae["capabilities"]
    assert vae["n_classes"] == 10 and vae["class_names"][:2] == ["0", "1"]
    assert client.get("/api/runs/vae").json() == vae


def test_config_and_metrics_are_the_run_files(client, runs_dir):
    config = client.get("/api/runs/dcgan/config").json()
    assert config == rundir.read_config_dict(runs_dir / "dcgan")
    history = client.get("/api/runs/dcgan/metrics").json()["history"]
    assert history == rundir.read_history(runs_dir / "dcgan") and len(history) == 1


def test_items_are_the_test_split_as_png(client, runs_dir):
    png, x = item_png(runs_dir, 3)
    r = client.get("/api/runs/vae/items/3.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(r.content))),
                                  (x[0] * 255).round().byte().numpy())
    assert "test items 0 to 39" in detail(client.get("/api/runs/vae/items/40.png"), 404)


# ----------------------------------------------------------------------------- codings


def test_encode_multipart_and_json_give_the_run_codings(client, runs_dir):
    png, x = item_png(runs_dir)
    run = lf.load_run(runs_dir / "vae")
    expected = run.encode(x[None])[0].tolist()
    by_form = client.post("/api/runs/vae/encode", **upload(png)).json()["codings"]
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    by_json = client.post("/api/runs/vae/encode", json={"image": data_url}).json()["codings"]
    bare = client.post("/api/runs/vae/encode",
                       json={"image": base64.b64encode(png).decode()}).json()["codings"]
    np.testing.assert_allclose(by_form, expected, atol=1e-5)
    assert by_json == by_form == bare


def test_reconstruct_returns_images_codings_and_error(client, runs_dir):
    png, x = item_png(runs_dir)
    run = lf.load_run(runs_dir / "stacked_ae")
    out = client.post("/api/runs/stacked_ae/reconstruct", **upload(png)).json()
    assert out["error"] == pytest.approx(float((run.reconstruct(x[None]) - x).square().mean()),
                                         rel=1e-4)
    np.testing.assert_array_equal(decoded(out["input"]), (x[0] * 255).round().byte().numpy())
    assert decoded(out["reconstruction"]).shape == (8, 8)
    np.testing.assert_allclose(out["codings"], run.encode(x[None])[0].tolist(), atol=1e-5)


def test_a_colour_upload_of_another_size_is_converted(client):
    rgb = np.zeros((30, 20, 3), np.uint8)
    rgb[:, 10:] = (250, 250, 250)  # right half white
    rgba = np.dstack([rgb, np.full((30, 20), 255, np.uint8)])
    rgba[:, :10, 3] = 0  # the left half transparent: composited over black
    for png in (png_of(rgb), png_of(rgba, "RGBA")):
        out = client.post("/api/runs/stacked_ae/reconstruct", **upload(png)).json()
        seen = decoded(out["input"])
        expected = Image.fromarray(rgb).convert("L").resize((8, 8), Image.BILINEAR)
        assert seen.shape == (8, 8)
        np.testing.assert_array_equal(seen, np.asarray(expected))
        assert seen[:, :3].max() == 0 and seen[:, -3:].min() > 200


def test_anomaly_uses_the_default_score_and_the_validation_threshold(client, runs_dir):
    from latentforge.tasks.anomalies import anomaly_detector

    png, x = item_png(runs_dir)
    for name, method in (("vae", "elbo"), ("stacked_ae", "knn"), ("dcgan", "discriminator")):
        out = client.post(f"/api/runs/{name}/anomaly", **upload(png)).json()
        detector = anomaly_detector(lf.load_run(runs_dir / name))
        assert out["method"] == method == detector.score
        assert out["threshold"] == pytest.approx(detector.threshold, rel=1e-5)
        assert out["score"] == pytest.approx(float(detector.scores_of(x[None])[0]), rel=1e-4)
        assert out["is_anomaly"] == (out["score"] > out["threshold"])


def test_similar_finds_the_item_itself_first(client, runs_dir):
    png, _ = item_png(runs_dir, 5)
    items = client.post("/api/runs/vae/similar?k=3", **upload(png)).json()["items"]
    labels = lf.load_run(runs_dir / "vae").split("test").y
    assert len(items) == 3 and items[0]["index"] == 5 and items[0]["distance"] < 1e-5
    assert [i["distance"] for i in items] == sorted(i["distance"] for i in items)
    assert all(i["label"] == int(labels[i["index"]]) for i in items)
    assert decoded(items[0]["thumbnail"]).shape == (8, 8)
    assert "k" in detail(client.post("/api/runs/vae/similar?k=0", **upload(png)), 422)


def test_map_embeds_seeded_test_items(client, runs_dir):
    out = client.get("/api/runs/stacked_ae/map?n=20&method=pca").json()
    test = lf.load_run(runs_dir / "stacked_ae").split("test")
    indices = [p["index"] for p in out["points"]]
    assert out["method"] == "pca" and len(indices) == 20 == len(set(indices))
    assert indices == test.sample_indices(20, 0).tolist()
    assert all(p["label"] == int(test.y[p["index"]]) for p in out["points"])
    assert client.get("/api/runs/stacked_ae/map?n=20&method=pca").json() == out
    assert "method" in detail(client.get("/api/runs/stacked_ae/map?method=lda"), 422)


# ----------------------------------------------------------------------------- generate


def test_generate_is_seeded_and_its_codings_decode_to_its_images(client):
    for name in ("vae", "dcgan"):
        out = client.post(f"/api/runs/{name}/generate", json={"n": 3, "seed": 7}).json()
        assert len(out["images"]) == 3 and len(out["codings"]) == 3
        assert decoded(out["grid"]).shape == (12, 32)  # 1 row of 3, 2 px apart
        again = client.post(f"/api/runs/{name}/generate", json={"n": 3, "seed": 7}).json()
        assert again == out
        for codings, image in zip(out["codings"], out["images"]):
            one = client.post(f"/api/runs/{name}/decode", json={"codings": codings}).json()
            diff = decoded(one["image"]).astype(int) - decoded(image).astype(int)
            assert np.abs(diff).max() <= 1
    other = client.post("/api/runs/vae/generate", json={"seed": 8}).json()
    assert len(other["images"]) == 16


def test_interpolate_between_seeds_and_between_images(client, runs_dir):
    ends = [client.post("/api/runs/dcgan/generate", json={"n": 1, "seed": s}).json()
            for s in (1, 2)]
    path = client.post("/api/runs/dcgan/interpolate",
                       json={"seeds": [1, 2], "steps": 5}).json()["images"]
    assert len(path) == 5
    for image, end in zip((path[0], path[-1]), ends):
        diff = decoded(image).astype(int) - decoded(end["images"][0]).astype(int)
        assert np.abs(diff).max() <= 1
    png_a, _ = item_png(runs_dir, 1)
    png_b, _ = item_png(runs_dir, 2)
    images = [base64.b64encode(p).decode() for p in (png_a, png_b)]
    out = client.post("/api/runs/stacked_ae/interpolate", json={"images": images})
    recon = client.post("/api/runs/stacked_ae/reconstruct", **upload(png_a)).json()
    assert len(out.json()["images"]) == 8 and out.json()["images"][0] == recon["reconstruction"]
    assert "either" in detail(client.post("/api/runs/vae/interpolate",
                                          json={"seeds": [1, 2], "images": images}), 422)


# ----------------------------------------------------------------------------- 4xx


def test_unknown_runs_and_traversal_attempts_are_refused(client):
    assert "No run named 'nope'" in detail(client.get("/api/runs/nope"), 404)
    assert detail(client.get("/api/runs/not-a-run"), 404)
    for url in ("/api/runs/..%2F..%2Fetc/config", "/api/runs/..%2F..", "/api/runs/%2e%2e/config",
                "/api/runs/.%2e/metrics", "/api/runs/a%5Cb/config", "/api/runs/%00/config"):
        r = client.get(url)
        assert r.status_code in (400, 404), (url, r.status_code)
    assert "Invalid run name" in detail(client.get("/api/runs/%2e%2e/config"), 400)


def test_an_endpoint_the_model_cannot_do_is_409_naming_the_capability(client):
    png = png_of(np.zeros((8, 8), np.uint8))
    assert "'generate'" in detail(client.post("/api/runs/stacked_ae/generate", json={}), 409)
    assert "'encode'" in detail(client.post("/api/runs/dcgan/encode", **upload(png)), 409)
    assert "'encode'" in detail(client.get("/api/runs/dcgan/map"), 409)
    assert "'conditional'" in detail(client.post("/api/runs/vae/generate", json={"label": 1}),
                                     409)
    assert "'styles'" in detail(client.post("/api/runs/dcgan/generate",
                                            json={"truncation": 0.5}), 409)
    assert "'generate'" in detail(client.post("/api/runs/stacked_ae/interpolate",
                                              json={"seeds": [0, 1]}), 409)


def test_bad_bodies_are_one_sentence_4xx(client):
    assert "n" in detail(client.post("/api/runs/vae/generate", json={"n": 65}), 422)
    assert "(n, 2)" in detail(client.post("/api/runs/vae/decode", json={"codings": [1.0]}), 422)
    assert detail(client.post("/api/runs/vae/encode", content=b"x",
                              headers={"content-type": "text/plain"}), 415)
    assert "'image'" in detail(client.post("/api/runs/vae/encode",
                                           files={"other": ("a.png", b"x")}), 422)
    assert "JSON" in detail(client.post("/api/runs/vae/encode", content=b"{",
                                        headers={"content-type": "application/json"}), 422)
    assert "base64" in detail(client.post("/api/runs/vae/encode", json={"image": "%%%"}), 422)


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (its data is one row)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1))) + chunk(b"IEND", b""))


def test_oversized_bombs_and_non_images_are_refused_before_decoding(client):
    big = os.urandom(MAX_UPLOAD_BYTES + 1)
    assert "5 MB" in detail(client.post("/api/runs/vae/encode", **upload(big)), 413)
    encoded = base64.b64encode(big).decode()
    assert "5 MB" in detail(client.post("/api/runs/vae/encode", json={"image": encoded}), 413)
    assert "decode safely" in detail(client.post("/api/runs/vae/encode",
                                                 **upload(_bomb_png(100000, 100000))), 413)
    assert "5000x1" in detail(client.post("/api/runs/vae/encode",
                                          **upload(_bomb_png(5000, 1))), 413)
    assert "not an image" in detail(client.post("/api/runs/vae/encode",
                                                **upload(b"GIF? no, plain text")), 415)
    truncated = png_of(np.full((8, 8), 9, np.uint8))[:-30]
    assert "broken" in detail(client.post("/api/runs/vae/encode", **upload(truncated)), 422)
    wide = png_of(np.zeros((8, 8), np.uint16))
    assert "8-bit" in detail(client.post("/api/runs/vae/encode", **upload(wide)), 415)


def test_a_streamed_body_over_the_cap_is_cut_off(client):
    from latentforge.serve.limits import MAX_BODY_BYTES

    def chunks():
        for _ in range(MAX_BODY_BYTES // 2**20 + 2):
            yield b"0" * 2**20

    r = client.post("/api/runs/vae/encode", content=chunks(),
                    headers={"content-type": "application/json"})
    assert "request body" in detail(r, 413)


# ----------------------------------------------------------------------------- app


def test_the_cache_keeps_max_models_and_reloads_changed_runs(runs_dir):
    app = create_app(runs_dir, max_models=2)
    cache = app.state.served.cache
    with TestClient(app) as c:
        for name in MODELS:
            assert c.get(f"/api/runs/{name}/items/0.png").status_code == 200
        assert [p.name for p in cache.loaded()] == ["vae", "dcgan"]
        first = cache.get(runs_dir / "dcgan")
        assert cache.get(runs_dir / "dcgan") is first
        weights = runs_dir / "dcgan" / rundir.WEIGHTS
        stat = weights.stat()
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert cache.get(runs_dir / "dcgan") is not first
        assert len(c.get("/api/runs").json()["runs"]) == 3 and len(cache) == 2


def test_a_run_is_loaded_once_by_concurrent_requests(runs_dir):
    loads = []

    def slow_load(path):
        loads.append(path)
        time.sleep(0.2)
        return lf.load_run(path)

    cache = RunCache(2, loader=slow_load)
    with ThreadPoolExecutor(8) as pool:
        entries = list(pool.map(lambda _: cache.get(runs_dir / "vae"), range(8)))
    assert len(loads) == 1 and all(e is entries[0] for e in entries)
    calls = []
    with ThreadPoolExecutor(4) as pool:
        values = list(pool.map(lambda _: entries[0].memo("k", lambda r: calls.append(1) or 7),
                               range(4)))
    assert values == [7] * 4 and calls == [1]


def test_openapi_describes_every_endpoint_and_docs_need_no_cdn(client):
    paths = client.get("/openapi.json").json()["paths"]
    expected = {"/api/runs": "get", "/api/runs/{run}": "get", "/api/runs/{run}/config": "get",
                "/api/runs/{run}/metrics": "get", "/api/runs/{run}/items/{index}.png": "get",
                "/api/runs/{run}/map": "get"}
    expected.update({f"/api/runs/{{run}}/{e}": "post" for e in ALL if e != "map"})
    assert {p: next(iter(paths[p])) for p in expected if p in paths} == expected
    body = paths["/api/runs/{run}/encode"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200


def test_the_explorer_page_is_served_at_root(client, runs_dir, monkeypatch, tmp_path):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    monkeypatch.setattr(serve_app, "STATIC", tmp_path)  # a tree without the page
    with TestClient(create_app(runs_dir)) as c:
        assert "not installed" in detail(c.get("/"), 404)


# ----------------------------------------------------------------------------- CLI, server


def test_cli_errors_are_one_clear_line(cli, runs_dir, tmp_path, monkeypatch):
    from latentforge.serve import server

    code, _, err = cli(["serve", tmp_path / "none"])
    assert code == 2 and assert_one_error_line(err, "does not exist")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        code, out, err = cli(["serve", runs_dir, "--port", taken.getsockname()[1]])
    assert code == 2 and out == "" and assert_one_error_line(err, "in use", "--port")
    monkeypatch.setattr(server, "PACKAGES", ("fastapi", "no_such_package_xyz"))
    code, _, err = cli(["serve", runs_dir])
    assert code == 2 and assert_one_error_line(err, "pip install 'latentforge[serve]'")


def test_a_real_uvicorn_server_answers_on_localhost(runs_dir):
    import httpx

    from latentforge.serve.server import bind, make_server, url

    sock = bind("127.0.0.1", 0)
    server = make_server(create_app(runs_dir), "warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started and url(sock).startswith("http://127.0.0.1:")
        r = httpx.get(url(sock) + "api/runs/dcgan", timeout=20)
        assert r.status_code == 200 and r.json()["model"] == "dcgan"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
    assert not thread.is_alive()
