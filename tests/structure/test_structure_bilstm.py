"""The unpacked bidirectional LSTM equals the packed nn.LSTM on right-padded batches."""

from __future__ import annotations

import torch
from torch import nn

from bio_mtl.mtl._layers import PaddedBiLSTM, reverse_within_length


def test_reverse_within_length_by_hand_and_involution():
    x = torch.tensor([[1.0, 2.0, 3.0, 0.0, 0.0], [4.0, 5.0, 6.0, 7.0, 8.0]]).unsqueeze(-1)
    lengths = torch.tensor([3, 5])
    out = reverse_within_length(x, lengths)[..., 0]
    assert out.tolist() == [[3.0, 2.0, 1.0, 0.0, 0.0], [8.0, 7.0, 6.0, 5.0, 4.0]]
    assert torch.equal(reverse_within_length(reverse_within_length(x, lengths), lengths), x)


def test_equals_packed_bidirectional_lstm_with_the_same_weights():
    torch.manual_seed(0)
    ours = PaddedBiLSTM(6, 5, 2).eval()
    ref = nn.LSTM(6, 5, num_layers=2, batch_first=True, bidirectional=True).eval()
    with torch.no_grad():  # copy our weights into the reference's per-direction slots
        for layer in range(2):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l{layer}").copy_(
                    getattr(ours.forward_lstms[layer], f"{name}_l0"))
                getattr(ref, f"{name}_l{layer}_reverse").copy_(
                    getattr(ours.backward_lstms[layer], f"{name}_l0"))
    lengths = torch.tensor([7, 3, 5])
    x = torch.randn(3, 7, 6)
    x[torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1)] = 99.0  # junk in the padding
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                               enforce_sorted=False)
    expected, _ = nn.utils.rnn.pad_packed_sequence(ref(packed)[0], batch_first=True,
                                                   total_length=7)
    got = ours(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(got[i, :n], expected[i, :n], rtol=1e-5, atol=1e-6)
