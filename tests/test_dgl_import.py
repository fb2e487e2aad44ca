"""graphkd._dgl: DGL usable on the running torch, and clear errors for broken stacks."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from graphkd._dgl import dgl, graphbolt_problem, torch_release

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code: str, extra_path: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, REPO) if p)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_graph_construction_and_batching():
    g = dgl.graph((torch.tensor([0, 1]), torch.tensor([1, 2])), num_nodes=3)
    batched = dgl.batch([g, g])
    assert batched.batch_size == 2 and batched.num_edges() == 4
    assert batched.batch_num_nodes().tolist() == [3, 3]


def test_knn_graph_matches_brute_force():
    x = torch.randn(12, 3)
    g = dgl.knn_graph(x, 4)
    src, dst = g.edges()
    distance = torch.cdist(x, x)
    for node in range(12):
        expected = set(distance[node].topk(4, largest=False).indices.tolist())
        assert set(src[dst == node].tolist()) == expected


def test_kernels_equal_dense_with_gradients():
    g = dgl.graph((torch.tensor([0, 1, 2, 2]), torch.tensor([1, 2, 0, 1])), num_nodes=3)
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    src, dst = g.edges()
    sub = dgl.ops.u_sub_v(g, x, x)
    dot = dgl.ops.u_dot_v(g, x, x).squeeze(-1)
    torch.testing.assert_close(sub, x[src] - x[dst])
    torch.testing.assert_close(dot, (x[src] * x[dst]).sum(1))
    scores = dot
    soft = dgl.ops.edge_softmax(g, scores)
    dense = torch.full((3, 3), float("-inf"), dtype=torch.float64)
    dense = dense.index_put((dst, src), scores)
    torch.testing.assert_close(soft, torch.softmax(dense, dim=1)[dst, src])
    summed = dgl.ops.gspmm(g, "copy_lhs", "sum", x, None)
    adjacency = torch.zeros(3, 3, dtype=torch.float64).index_put(
        (dst, src), torch.ones(4, dtype=torch.float64)
    )
    torch.testing.assert_close(summed, adjacency @ x)
    (sub.sum() + soft.pow(2).sum() + summed.pow(2).sum()).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_update_all_builtin_and_tagconv():
    import dgl.function as fn
    from dgl.nn import TAGConv

    g = dgl.graph((torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])))
    g.ndata["h"] = torch.randn(3, 4)
    g.update_all(fn.copy_u("h", "m"), fn.mean("m", "out"))
    torch.testing.assert_close(g.ndata["out"], g.ndata["h"][[2, 0, 1]])
    conv = TAGConv(4, 2, k=1)
    out = conv(g, g.ndata["h"])
    out.sum().backward()
    assert out.shape == (3, 2) and conv.lin.weight.grad is not None


def test_seed_is_reproducible():
    dgl.seed(3)
    first = dgl.rand_graph(10, 20).edges()[0]
    dgl.seed(3)
    assert torch.equal(first, dgl.rand_graph(10, 20).edges()[0])


def test_missing_graphbolt_library_is_detected(tmp_path):
    (tmp_path / "graphbolt").mkdir()
    if sys.platform.startswith("linux"):
        assert "ships no graphbolt library" in graphbolt_problem(str(tmp_path))


def test_torchdata_too_new_is_detected(tmp_path):
    package = tmp_path / "dglpkg"
    (package / "graphbolt").mkdir(parents=True)
    (package / "graphbolt" / f"libgraphbolt_pytorch_{torch_release()}.so").write_text("")
    fake = tmp_path / "site" / "torchdata"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '0.11.0'\n")
    result = run_python(
        f"""
        from graphkd._dgl import graphbolt_problem
        print(graphbolt_problem({str(package)!r}))
        """,
        extra_path=str(tmp_path / "site"),
    )
    assert "torchdata.datapipes" in result.stdout, result.stderr


def test_torchdata_too_new_keeps_graphkd_working(tmp_path):
    fake = tmp_path / "torchdata"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    result = run_python(
        """
        import torch, graphkd
        from graphkd._dgl import dgl
        g = dgl.graph(([0], [1]))
        import dgl.graphbolt as gb
        try:
            gb.ItemSet
        except ImportError as error:
            print("CLEAR:", error)
        """,
        extra_path=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "CLEAR:" in result.stdout and "graphkd does not need it" in result.stdout


def test_dgl_absent_gives_clear_error(tmp_path):
    result = run_python(
        """
        import importlib.util
        real_find_spec = importlib.util.find_spec
        def find_spec(name, *args):
            return None if name == "dgl" else real_find_spec(name, *args)
        importlib.util.find_spec = find_spec
        import graphkd
        """
    )
    assert result.returncode != 0
    assert "graphkd needs DGL, which is not installed" in result.stderr
    assert torch.__version__ in result.stderr


def test_incompatible_dgl_build_gives_clear_error(tmp_path):
    fake = tmp_path / "dgl"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise OSError('libdgl.so: undefined symbol: _ZN3c104cuda')\n"
    )
    result = run_python(
        """
        import graphkd
        print("IMPORTED")
        graphkd.KnowledgeGraph(torch.tensor([0]), torch.tensor([1]), num_nodes=2).topology
        """.replace("import graphkd", "import torch, graphkd"),
        extra_path=str(tmp_path),
    )
    assert "IMPORTED" in result.stdout  # DGL loads when a DGL graph is first needed
    assert result.returncode != 0
    assert "cannot be imported with torch" in result.stderr
    assert "undefined symbol" in result.stderr and "Support matrix" in result.stderr


@pytest.mark.parametrize("module", ["graphkd.ops", "graphkd.graphs", "graphkd.distill"])
def test_only_dgl_module_imports_dgl(module):
    import importlib
    import inspect
    import pkgutil

    package = importlib.import_module(module)
    for info in pkgutil.walk_packages(package.__path__, module + "."):
        source = inspect.getsource(importlib.import_module(info.name))
        assert "import dgl" not in source.replace("from graphkd._dgl import dgl", "")


def test_dgl_loads_only_when_a_dgl_graph_is_needed():
    result = run_python(
        """
        import sys
        import torch
        import graphkd
        import graphkd.ops
        from graphkd.graphs import complete_graph, edge_features, knn_graph

        print("after import:", "dgl" in sys.modules, "pandas" in sys.modules)
        x = torch.randn(6, 3)
        g = complete_graph(6)
        edge_features.distance(g, x)  # dense kernels on a complete graph need no DGL
        graphkd.create_method("rkd")(graphkd.Responses(x, embedding=x), graphkd.Responses(x, embedding=x))
        print("after dense work:", "dgl" in sys.modules)
        topology = g.topology
        print("topology:", type(topology).__name__, topology.num_edges(), "dgl" in sys.modules)
        knn = knn_graph(x, 3)
        with graphkd.ops.use_backend("dgl"):
            through_dgl = graphkd.ops.neighbour_sum(knn, x)
        with graphkd.ops.use_backend("torch"):
            through_torch = graphkd.ops.neighbour_sum(knn, x)
        print("kernels agree:", torch.allclose(through_dgl, through_torch))
        """
    )
    assert result.returncode == 0, result.stderr
    assert "after import: False False" in result.stdout
    assert "after dense work: False" in result.stdout
    assert "topology: DGLGraph 36 True" in result.stdout
    assert "kernels agree: True" in result.stdout


def test_plain_import_dgl_after_graphkd_works_without_eager_import():
    """A user's own DGL code writes ``import dgl``; after ``import graphkd`` it works on
    every supported stack, and ``graphkd.dgl`` (the public stand-in) is the same DGL."""
    result = run_python(
        """
        import sys
        import graphkd
        from graphkd import dgl as lazy

        print("after import graphkd:", "dgl" in sys.modules)
        import dgl
        print("edges:", dgl.graph(([0, 1], [1, 2])).num_edges())
        print("same:", lazy.graph is dgl.graph, "dgl" in graphkd.__all__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "after import graphkd: False" in result.stdout
    assert "edges: 2" in result.stdout and "same: True True" in result.stdout


def test_a_fresh_home_gets_no_backend_messages(tmp_path):
    """DGL asks for a backend and writes ~/.dgl/config.json in a fresh home; graphkd
    names PyTorch, so neither its messages nor the file appear."""
    env_home = {"HOME": str(tmp_path)}
    code = """
        import graphkd
        from graphkd import dgl
        print("edges:", dgl.graph(([0], [1])).num_edges())
        import dgl as plain
        print("same:", plain.graph is dgl.graph)
        """
    env = dict(os.environ, **env_home)
    env.pop("DGLBACKEND", None)
    env["PYTHONPATH"] = REPO
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "edges: 1" in result.stdout and "same: True" in result.stdout
    for message in ("backend not selected", "Setting the default backend"):
        assert message not in result.stdout + result.stderr
    assert not (tmp_path / ".dgl").exists()
