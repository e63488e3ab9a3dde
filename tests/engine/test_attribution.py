"""Attributions (issue 21, item 1) checked against Captum, which no one here wrote, and the service's
`explain` (what the inspector asks for) on both architectures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2s_desktop.engine.api import EOS_ID
from s2s_desktop.engine.attribution import attention_rollout, input_x_gradient, integrated_gradients
from s2s_desktop.engine.data.batching import make_batch
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.errors import InputError

captum_attr = pytest.importorskip("captum.attr")


@pytest.fixture(scope="module", params=["rnn", "transformer"])
def case(request, reverse_model_file, tiny_transformer_file):
    path = reverse_model_file if request.param == "rnn" else tiny_transformer_file
    tr = Translator.open(str(path), "cpu", precision="fp32")
    source = "one two three four"
    best = tr.translate([source])[0].best
    src_ids = tr.loaded.src_tok.encode(source)
    tgt_ids = [tr.loaded.tgt_tok.piece_to_id(p) for p in best.tokens if p != "</s>"]
    return tr, source, best, src_ids, tgt_ids


def _captum_forward(tr, src_ids, tgt_ids, t, against: int | None = None):
    """f(source embeddings (B, S + 1, E)) -> log p(target piece t) (B,), minus log p(`against`) there
    when given, written here from the model's parts."""
    model = tr.model

    def forward(embedded: torch.Tensor) -> torch.Tensor:
        n = embedded.shape[0]
        batch = make_batch([src_ids] * n, [tgt_ids] * n, np.arange(n), "cpu")
        calls = []

        def hook(_m, _i, _out):
            calls.append(1)
            return embedded if len(calls) == 1 else None  # the encoder's lookup only

        handle = model.src_embed.register_forward_hook(hook)
        try:
            enc = model.encode(batch.src, batch.src_lengths)
            hidden, _ = model.decode(enc, batch.tgt_in)
        finally:
            handle.remove()
        logp = torch.log_softmax(model.logits(hidden).float(), dim=-1)
        chosen = logp[:, t].gather(-1, batch.tgt_out[:, t:t + 1]).squeeze(-1)
        return chosen if against is None else chosen - logp[:, t, against]

    return forward


def _embedding(tr, src_ids) -> torch.Tensor:
    with torch.no_grad():
        return tr.model.src_embed(torch.tensor([[*src_ids, EOS_ID]]))  # "</s>" ends every source


def test_input_x_gradient_and_integrated_gradients_match_captum(case):
    tr, _, _, src_ids, tgt_ids = case
    tr.model.eval()
    ours_ixg = input_x_gradient(tr, src_ids, tgt_ids)
    ours_ig = integrated_gradients(tr, src_ids, tgt_ids, steps=16)
    assert ours_ixg.shape == ours_ig.shape == (len(tgt_ids) + 1, len(src_ids) + 1)
    x = _embedding(tr, src_ids)
    for t in range(len(tgt_ids) + 1):
        forward = _captum_forward(tr, src_ids, tgt_ids, t)
        ixg = captum_attr.InputXGradient(forward).attribute(x.clone().requires_grad_(True))
        np.testing.assert_allclose(ours_ixg[t], ixg[0].norm(dim=-1).detach().numpy(), rtol=1e-4, atol=1e-6)
        ig = captum_attr.IntegratedGradients(forward).attribute(x, baselines=torch.zeros_like(x), n_steps=16,
                                                                method="riemann_middle")
        np.testing.assert_allclose(ours_ig[t], ig[0].norm(dim=-1).detach().numpy(), rtol=1e-3, atol=1e-5)


def test_explain_gives_a_normalised_map_per_method_and_refuses_what_a_model_lacks(case):
    tr, source, best, _, _ = case
    arch = tr.loaded.config.arch
    methods = ["input_x_gradient", "integrated_gradients"] + (["rollout"] if arch == "transformer" else [])
    for method in methods:
        e = tr.explain(source, best.tokens, method, steps=8)
        assert e.method == method and e.scores.shape == np.asarray(best.attention).shape[2:]
        assert np.isfinite(e.scores).all() and (e.scores >= 0).all()
        np.testing.assert_allclose(e.scores.sum(axis=1), 1.0, atol=1e-5)
    if arch != "transformer":
        with pytest.raises(InputError, match="rollout needs self-attention"):
            tr.explain(source, best.tokens, "rollout")
    with pytest.raises(InputError, match="unknown attribution method 'saliency'"):
        tr.explain(source, best.tokens, "saliency")
    with pytest.raises(InputError, match="0 steps"):
        tr.explain(source, best.tokens, "integrated_gradients", steps=0)
    assert tr.explain(source, best.tokens, "integrated_gradients", cancelled=lambda: True) is None


def test_rollout_multiplies_the_encoder_layers_and_reads_them_with_the_cross_attention():
    rng = np.random.default_rng(0)
    enc = rng.dirichlet(np.ones(4), size=(2, 3, 4))  # (layers, heads, S, S)
    cross = rng.dirichlet(np.ones(4), size=(2, 3, 5))  # (layers, heads, T, S)
    out = attention_rollout(enc, cross)
    mixed = [0.5 * layer.mean(0) + 0.5 * np.eye(4) for layer in enc]
    expected = cross.mean(axis=(0, 1)) @ (mixed[1] @ mixed[0])
    np.testing.assert_allclose(out, expected / expected.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(attention_rollout(np.zeros((0, 1, 4, 4)), cross), cross.mean(axis=(0, 1)), rtol=1e-5)


def test_integrated_gradients_map_comes_selected_row_first_and_partial_maps_fill_to_the_whole(case, monkeypatch):
    from s2s_desktop.engine import attribution

    monkeypatch.setattr(attribution, "CHUNK", 2)  # several partial maps of this short output
    tr, source, best, _, _ = case
    whole = tr.explain(source, best.tokens, "integrated_gradients", steps=8)
    partials = []
    first = len(best.tokens) - 2
    again = tr.explain(source, best.tokens, "integrated_gradients", steps=8, first=first, progress=partials.append)
    np.testing.assert_allclose(again.scores, whole.scores, rtol=1e-4, atol=1e-6)
    # the selected row alone first, then the others two at a time
    assert again.complete and len(partials) == 1 + len(best.tokens) // 2 and not partials[0].complete
    assert partials[0].rows_done == 1
    assert [p.rows_done for p in partials] == sorted(p.rows_done for p in partials)
    assert partials[-1].rows_done == len(best.tokens)
    # the first partial holds the chosen row, already final; rows not yet computed are 0
    np.testing.assert_allclose(partials[0].scores[first], whole.scores[first], rtol=1e-4, atol=1e-6)
    assert all((row == 0).all() == (r != first) for r, row in enumerate(partials[0].scores))
    computed = {first, *range(partials[1].rows_done - 1)}  # the order: `first`, then 0, 1, ...
    assert all((row == 0).all() == (r not in computed) for r, row in enumerate(partials[1].scores))


def test_contrast_matches_captum_and_the_searchs_own_probabilities(case):
    """Why piece t and not the runner-up: the signed attribution of the log-probability difference,
    against Captum on a forward written here; the difference is the one the beam search saw."""
    tr, source, best, src_ids, tgt_ids = case
    t = 1
    alternatives = [tok for tok, _ in best.alternatives(t) if tok != best.tokens[t]]
    alt = alternatives[0]
    alt_id = tr.loaded.tgt_tok.piece_to_id(alt)
    x = _embedding(tr, src_ids)
    forward = _captum_forward(tr, src_ids, tgt_ids, t, against=alt_id)
    for method in ("input_x_gradient", "integrated_gradients"):
        c = tr.contrast(source, best.tokens, t, alt, method, steps=16)
        assert (c.chosen, c.alternative, c.position) == (best.tokens[t], alt, t)
        if method == "input_x_gradient":
            ref = captum_attr.InputXGradient(forward).attribute(x.clone().requires_grad_(True))
        else:
            ref = captum_attr.IntegratedGradients(forward).attribute(x, baselines=torch.zeros_like(x), n_steps=16,
                                                                      method="riemann_middle")
        np.testing.assert_allclose(c.scores, ref[0].sum(dim=-1).detach().numpy(), rtol=1e-3, atol=1e-5)
    probs = dict(best.alternatives(t))
    assert c.difference == pytest.approx(np.log(probs[best.tokens[t]]) - np.log(probs[alt]), abs=1e-3)
    # completeness: the scores add up to f(e) - f(0)
    fine = tr.contrast(source, best.tokens, t, alt, "integrated_gradients", steps=256)
    with torch.no_grad():
        at_zero = float(forward(torch.zeros_like(x))[0])
    assert fine.scores.sum() == pytest.approx(fine.difference - at_zero, abs=0.02 * max(1.0, abs(fine.difference)))


def test_contrast_refuses_what_it_cannot_answer(case):
    tr, source, best, _, _ = case
    with pytest.raises(InputError, match="outside the output"):
        tr.contrast(source, best.tokens, len(best.tokens), best.tokens[0])
    with pytest.raises(InputError, match="is the chosen piece"):
        tr.contrast(source, best.tokens, 0, best.tokens[0])
    with pytest.raises(InputError, match="not in the target vocabulary"):
        tr.contrast(source, best.tokens, 0, "no-such-piece-here")
    with pytest.raises(InputError, match="unknown contrast method 'rollout'"):
        tr.contrast(source, best.tokens, 0, "</s>", "rollout")


def test_a_protected_item_missing_from_the_target_vocabulary_is_read_as_unknown(reverse_model_file, monkeypatch):
    """Found by the soak: a toy en->eo RNN (separate vocabularies) restored "I" into its own translation;
    neither "▁I" nor its surrogate was a target piece, and explaining that translation raised. The forced
    pass reads <unk> there instead; a piece the user made up is still refused."""
    tr = Translator.open(str(reverse_model_file), "cpu", precision="fp32")
    source = "one two 2024 three"
    masked = tr._protector().mask(source)
    assert masked is not None and [it.output for it in masked.items] == ["2024"]
    best = tr.translate([source])[0].best
    assert any("2024" in tok for tok in best.tokens)
    tok = tr.loaded.tgt_tok
    hidden = {f"▁{masked.surrogates[0]}", masked.surrogates[0], "▁2024", "2024"}
    real = tok.piece_to_id
    monkeypatch.setattr(tok, "piece_to_id", lambda piece: None if piece in hidden else real(piece))
    for method in ("input_x_gradient", "integrated_gradients"):
        e = tr.explain(source, best.tokens, method, steps=4)
        assert e.scores.shape[0] == len(best.tokens) and np.isfinite(e.scores).all()
    with pytest.raises(InputError, match="'▁zzqx', which is not in the target vocabulary"):
        tr.explain(source, ["▁zzqx", *best.tokens], "input_x_gradient")
