"""Model invariants: padding never changes results, attention is a distribution over real tokens."""

import numpy as np
import pytest
import torch

from s2s_desktop.engine.api import PAD_ID, ModelConfig
from s2s_desktop.engine.data.batching import make_batch
from s2s_desktop.engine.models.model import build_model, sequence_loss

ATTENTIONS = ["bahdanau", "luong-general", "luong-dot"]


def small_model(attention="luong-general", cell="gru", **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(
        src_vocab_size=30, tgt_vocab_size=31, emb_size=12, encoder_hidden=8, decoder_hidden=16,
        attention=attention, cell=cell, dropout=0.0, **kw,
    )
    return build_model(cfg).eval()


SRC = [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [15]]
TGT = [[4, 5], [6, 7, 8, 9, 10], [11, 12, 13]]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_padding_changes_nothing(attention, cell):
    """A sentence alone and the same sentence padded inside a batch with longer ones give the same
    encoder states, decoder outputs, attention and loss."""
    model = small_model(attention, cell)
    alone = make_batch(SRC[:1], TGT[:1], np.array([0]))
    together = make_batch(SRC, TGT, np.array([0, 1, 2]))
    assert together.src.shape[1] > alone.src.shape[1]  # the first sentence really is padded
    with torch.no_grad():
        e1 = model.encode(alone.src, alone.src_lengths)
        e2 = model.encode(together.src, together.src_lengths)
        n = alone.src.shape[1]
        torch.testing.assert_close(e1.memory[0], e2.memory[0, :n])
        torch.testing.assert_close(e1.final[0], e2.final[0])
        h1, a1 = model.decode(e1, alone.tgt_in)
        h2, a2 = model.decode(e2, together.tgt_in)
        t = alone.tgt_in.shape[1]
        torch.testing.assert_close(h1[0], h2[0, :t])
        torch.testing.assert_close(a1[0], a2[0, :t, :n])
        assert torch.all(a2[0, :, n:] == 0)
        loss_alone, _ = sequence_loss(model, alone, 0.1)
        # Loss of sentence 0 inside the batch = total minus the loss of the others on their own.
        rest = make_batch(SRC[1:], TGT[1:], np.array([0, 1]))
        loss_rest, _ = sequence_loss(model, rest, 0.1)
        loss_all, _ = sequence_loss(model, together, 0.1)
        torch.testing.assert_close(loss_all, loss_alone + loss_rest, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_attention_rows_sum_to_one_on_real_tokens(attention):
    model = small_model(attention)
    batch = make_batch(SRC, TGT, np.array([0, 1, 2]))
    with torch.no_grad():
        enc = model.encode(batch.src, batch.src_lengths)
        _, probs = model.decode(enc, batch.tgt_in)
        mask = batch.src != PAD_ID  # (B, S)
        torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:2]))
        assert torch.all(probs.masked_select(~mask[:, None, :].expand_as(probs)) == 0)
        # The incremental step used by search gives the same distribution shape and sums.
        state = model.init_state(enc)
        log_probs, attn, state = model.step(batch.tgt_in[:, 0], state, enc)
        assert attn.shape == (3, 1, 1, batch.src.shape[1])
        torch.testing.assert_close(attn.sum(-1), torch.ones(3, 1, 1))
        assert torch.all(attn[:, 0, 0][~mask] == 0)
        torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3))


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_stepwise_decoding_equals_teacher_forcing(attention):
    """Search runs the decoder one step at a time; training runs it over the whole target. Both
    must compute the same function, or beam search would decode a different model."""
    model = small_model(attention)
    batch = make_batch(SRC, TGT, np.array([0, 1, 2]))
    with torch.no_grad():
        enc = model.encode(batch.src, batch.src_lengths)
        hidden, probs = model.decode(enc, batch.tgt_in)
        full = torch.log_softmax(model.logits(hidden), -1)
        state = model.init_state(enc)
        for t in range(batch.tgt_in.shape[1]):
            lp, attn, state = model.step(batch.tgt_in[:, t], state, enc)
            torch.testing.assert_close(lp, full[:, t], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(attn[:, 0, 0], probs[:, t], rtol=1e-4, atol=1e-6)


def test_tied_and_shared_embeddings_are_one_tensor():
    model = small_model(tie_output=True)
    assert model.output is None and model.logits(torch.zeros(2, 16)).shape == (2, 31)
    torch.manual_seed(0)
    shared = build_model(ModelConfig(src_vocab_size=30, tgt_vocab_size=30, emb_size=12, encoder_hidden=8,
                                     decoder_hidden=16, share_embeddings=True, tie_output=True))
    assert shared.tgt_embed is shared.src_embed
    names = list(shared.state_dict())
    assert sum("embed" in n for n in names) == 1  # saved once


def test_bad_model_config_is_a_config_error():
    from s2s_desktop.engine.config import validate_model_config
    from s2s_desktop.errors import ConfigError

    with pytest.raises(ConfigError, match="luong-dot"):
        validate_model_config(ModelConfig(attention="luong-dot", encoder_hidden=8, decoder_hidden=20))
    with pytest.raises(ConfigError, match="--cell"):
        validate_model_config(ModelConfig(cell="tanh"))
