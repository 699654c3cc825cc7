"""The GAN objective of each training stage, and the one update path that applies it.

Each stage's loss is a small class with the same three methods, all functions of
(networks, batch) that return named tensors:

- ``generate(nets, batch)``: the generator's forward pass (what G is judged on);
- ``d_losses(nets, batch, fake)``: the discriminator losses on real vs detached generated
  images, and the real images' D features (feature matching reuses them);
- ``g_losses(nets, batch, fake, real)``: the generator losses, D run on the generated images.

:func:`gan_step` applies them. **Fused** (pix2pixHD's own update, the default for the body
stages): G and D are both updated from losses computed with the same, not yet updated D.
**Sequential** (the fp32 reference, ``fused_step: false``, and the face stage): a D step, then
the G step against the updated D, which runs D on the real images again.

Batches are dicts as :class:`~dancenow.data.dataset.PairDataset` gives them: ``(B, 3, H, W)``
tensors in ``[-1, 1]`` (``label_prev``, ``label``, ``image_prev``, ``image``, ``plate_prev``,
``plate``), ``(B, 1, H, W)`` maps (``valid*``, ``mask*``), ``mask_weight*`` ``(B,)`` and
``face_box`` ``(B, 4)`` int64. Every body loss sees the generated frames composited over the
plate, and both real and generated frames black beyond the video (``valid`` 0), so what lies
there never reaches a loss. ``nets`` is a dict of modules, possibly DDP-wrapped; D is called through its
unwrapped module wherever no D gradient is wanted, so DDP waits for none.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
import torch.nn.functional as F
from torch import nn

from dancenow.losses.gan import FeatureMatchingLoss, LSGANLoss
from dancenow.models.composite import composite, keep_valid
from dancenow.models.enhancer import enhance
from dancenow.models.generators import crop_boxes, generator_input
from dancenow.runfolder.config import LossConfig
from dancenow.training.distributed import unwrapped

Losses = dict[str, torch.Tensor]
Features = list[list[torch.Tensor]]  # a multi-scale D's outputs: per scale, features then the score


class NonFiniteLoss(RuntimeError):
    """A loss became NaN/Inf; the weights were not updated with it."""


class PairGenerator(nn.Module):
    """Both frames of a temporal pair in one ``forward``: DDP allows one forward per backward.

    ``(label_prev, label, plate_prev, plate, valid_prev, valid[, appearance_prev, appearance])``
    (labels and plates ``(B, 3, H, W)``, valid maps ``(B, 1, H, W)``, appearance inputs
    ``(B, 4, H, W)`` when the model has them) -> ``(frame_prev, frame, alpha_prev, alpha)``: each
    frame is the generated foreground composited over its plate
    (:func:`~dancenow.models.composite.composite`), black beyond the video. The second frame is
    conditioned on the first composite, not detached (EDN §3.3). Without temporal smoothing both
    frames are generated independently.
    """

    def __init__(self, generator: nn.Module, temporal: bool):
        super().__init__()
        self.generator, self.temporal = generator, temporal

    def forward(
        self, label_prev, label, plate_prev, plate, valid_prev, valid, appearance_prev=None, appearance=None
    ) -> tuple[torch.Tensor, ...]:
        t = self.temporal
        frame_prev, alpha_prev = composite(
            self.generator(generator_input(label_prev, None, appearance_prev, temporal=t)),
            plate_prev,
            valid_prev,
        )
        previous = frame_prev if t else None
        frame, alpha = composite(
            self.generator(generator_input(label, previous, appearance, temporal=t)), plate, valid
        )
        return frame_prev, frame, alpha_prev, alpha


def generator_inputs(batch: dict) -> tuple[torch.Tensor, ...]:
    """The :class:`PairGenerator` arguments of a :class:`~dancenow.data.dataset.PairDataset`
    batch (the appearance inputs: RGB and valid map concatenated, when the batch has them)."""
    out = tuple(batch[k] for k in ("label_prev", "label", "plate_prev", "plate", "valid_prev", "valid"))
    if "appearance" in batch:
        out += tuple(
            torch.cat([batch[f"appearance{s}"], batch[f"appearance_valid{s}"]], 1) for s in ("_prev", "")
        )
    return out


def real_frames(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The real frames of a batch, black beyond the video (as the generated ones)."""
    return keep_valid(batch["image_prev"], batch["valid_prev"]), keep_valid(batch["image"], batch["valid"])


def alpha_loss(
    alpha: torch.Tensor,
    mask: torch.Tensor,
    valid: torch.Tensor,
    weight: torch.Tensor,
    limbs: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean ``|alpha - target|`` over the valid pixels that are asked for, where the target is
    the person mask and, with ``limbs``, 1 on every visible limb's core (a thin capsule around
    its segment, :mod:`dancenow.pose.limbs`).

    Left out: a band around the mask's edge (soft edges, loose hair, shadows next to the body are
    the generator's to decide) and the samples of ``weight`` 0 (a mask that lost the person),
    but never a limb core: a forearm is narrower than the band, which would otherwise swallow
    it whole, and nothing would ask for it to be drawn. The cores count in a sample of weight 0
    too (they come from the pose, not from the lost mask).

    ``alpha``, ``mask``, ``valid``, ``limbs``: ``(B, 1, H, W)``; ``weight``: ``(B,)``.
    """
    alpha, mask = alpha.float(), mask.float()
    inside = (valid >= 0.999).float()
    k = 2 * max(1, round(EDGE_BAND * mask.shape[-2])) + 1
    # the video's edge is no edge of the person: pixels beyond it neither grow nor erode the mask
    # (it is black there, so a person cut by the frame's edge would lose a band of the loss)
    grown = F.max_pool2d(mask * inside, k, stride=1, padding=k // 2)
    shrunk = -F.max_pool2d(-(mask * inside + 1 - inside), k, stride=1, padding=k // 2)
    w = (grown - shrunk < 0.5).float() * weight.float().view(-1, 1, 1, 1)
    target = mask
    if limbs is not None:
        limbs = (limbs >= 0.5).float()
        w, target = torch.maximum(w, limbs), torch.maximum(mask, limbs)
    w = w * inside
    return (w * (alpha - target).abs()).sum() / w.sum().clamp(min=1.0)


EDGE_BAND = 0.02
"""Half-width of the band around the person mask's edge left out of the alpha loss, as a
fraction of the frame's height."""


class _Objective:
    """What both stages share: loss weights, LSGAN, feature matching, the perceptual term."""

    d_total = "d_total"  # the key of the loss D is updated from
    g_total = "g_total"  # the key of the loss G is updated from

    def __init__(
        self, cfg: LossConfig, perceptual: nn.Module, autocast: Callable[[], AbstractContextManager]
    ):
        self.cfg, self.perceptual_net, self.autocast = cfg, perceptual, autocast
        self.gan, self.fm = LSGANLoss(), FeatureMatchingLoss()

    def perceptual(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The perceptual term; inputs under 32 px (face crops at low resolutions) are enlarged to
        the 32 px the feature networks need."""
        if self.cfg.lambda_perceptual == 0:
            return fake.new_zeros((), dtype=torch.float32)
        side = min(fake.shape[-2:])
        if side < 32:
            size = [round(s * 32 / side) for s in fake.shape[-2:]]
            fake = F.interpolate(fake, size=size, mode="bilinear", align_corners=False)
            real = F.interpolate(real, size=size, mode="bilinear", align_corners=False)
        return self.perceptual_net(fake, real)

    def lsgan_d(self, real: Features, fake: Features) -> torch.Tensor:
        """LSGAN discriminator loss: real -> 1, generated -> 0."""
        return 0.5 * (self.gan(real, True) + self.gan(fake, False))


class BodyLoss(_Objective):
    """EDN's body stages: pix2pixHD (LSGAN, feature matching, perceptual) on frame pairs, with a
    temporal discriminator. ``nets``: ``g`` (a :class:`PairGenerator`), ``d`` (``spatial`` and,
    with temporal smoothing, ``temporal``)."""

    def __init__(self, cfg: LossConfig, perceptual: nn.Module, autocast, *, temporal: bool):
        super().__init__(cfg, perceptual, autocast)
        self.temporal = temporal

    def generate(self, nets: dict, batch: dict) -> tuple[torch.Tensor, ...]:
        """``(frame_{t-1}, frame_t, alpha_{t-1}, alpha_t)``: ``fake_{t-1} = G(label_{t-1}, 0)``,
        ``fake_t = G(label_t, frame_{t-1})`` (not detached), each composited over its plate."""
        with self.autocast():
            return nets["g"](*generator_inputs(batch))

    def d_losses(self, nets: dict, batch: dict, fake) -> tuple[Losses, tuple]:
        """Each D on ``[real; generated.detach()]`` in one call (one forward per backward, as DDP
        requires; instance norm keeps the samples independent)."""
        lp, l = batch["label_prev"], batch["label"]
        ip, i = real_frames(batch)
        fake_p, fake = (f.detach() for f in fake[:2])
        labels, n = torch.cat([lp, l]), 2 * lp.shape[0]
        with self.autocast():
            s_in = torch.cat([torch.cat([labels, labels]), torch.cat([ip, i, fake_p, fake])], 1)
            s_real, s_fake = _split(nets["d"]["spatial"](s_in), n)
            t_real = t_fake = None
            if self.temporal:
                t_in = [torch.cat([lp, lp]), torch.cat([l, l]), torch.cat([ip, fake_p]), torch.cat([i, fake])]
                t_real, t_fake = _split(nets["d"]["temporal"](torch.cat(t_in, 1)), n // 2)
            losses = {"d_spatial": self.lsgan_d(s_real, s_fake)}
            losses["d_total"] = losses["d_spatial"]
            if self.temporal:
                losses["d_temporal"] = self.lsgan_d(t_real, t_fake)
                losses["d_total"] = losses["d_total"] + self.cfg.lambda_temporal * losses["d_temporal"]
        return losses, (s_real, t_real)

    def g_losses(self, nets: dict, batch: dict, fake, real: tuple | None = None) -> Losses:
        """LSGAN + λ_FM·feature matching (spatial, temporal) + λ_P·perceptual on the composited
        frames, + λ_α·the alpha loss against the person masks, their total, and the L1 to the
        real frames (logged only). ``real``: D's features of the real frames (computed here,
        without gradients, when None)."""
        lp, l = batch["label_prev"], batch["label"]
        ip, i = real_frames(batch)
        frames, alphas = fake[:2], fake[2:]
        d = {k: unwrapped(v) for k, v in nets["d"].items()}
        lam = self.cfg
        with self.autocast():
            # each consumer concatenates the generated frames itself, D's first: that fixes the
            # order in which autograd sums their gradients, which the recorded losses pin bit for bit
            s_fake = d["spatial"](torch.cat([torch.cat([lp, l]), torch.cat(list(frames))], 1))
            t_fake = d["temporal"](torch.cat([lp, l, *frames], 1)) if self.temporal else None
            real_both, fake_both = torch.cat([ip, i]), torch.cat(list(frames))
            if real is None:
                with torch.no_grad():
                    s_real = d["spatial"](torch.cat([torch.cat([lp, l]), real_both], 1))
                    t_real = d["temporal"](torch.cat([lp, l, ip, i], 1)) if self.temporal else None
            else:
                s_real, t_real = real
            losses = {
                "g_gan": self.gan(s_fake, True),
                "g_fm": self.fm(s_fake, s_real),
                "g_perceptual": self.perceptual(fake_both, real_both),
            }
            total = (
                losses["g_gan"]
                + lam.lambda_fm * losses["g_fm"]
                + lam.lambda_perceptual * losses["g_perceptual"]
            )
            if self.temporal:
                losses["g_gan_temporal"] = self.gan(t_fake, True)
                losses["g_fm_temporal"] = self.fm(t_fake, t_real)
                total = total + lam.lambda_temporal * (
                    losses["g_gan_temporal"] + lam.lambda_fm * losses["g_fm_temporal"]
                )
        losses["g_alpha"] = alpha_loss(
            torch.cat(list(alphas)),
            torch.cat([batch["mask_prev"], batch["mask"]]),
            torch.cat([batch["valid_prev"], batch["valid"]]),
            torch.cat([batch["mask_weight_prev"], batch["mask_weight"]]),
            torch.cat([batch["limbs_prev"], batch["limbs"]]) if lam.limb_cores else None,
        )
        losses["g_total"] = total + lam.lambda_alpha * losses["g_alpha"]
        with torch.no_grad():
            losses["l1"] = (fake_both.float() - real_both.float()).abs().mean()
        return losses


class FaceLoss(_Objective):
    """EDN's face GAN: a residual added to G's face crop, judged with the label crop by a
    PatchGAN. ``nets``: ``g`` (the body :class:`PairGenerator`, frozen unless fine-tuned),
    ``face_g``, ``face_d``. ``generate`` returns ``(label, generated body, refined face, real)``
    crops, each ``(B, 3, S, S)``; the residual refines the composited frame's face."""

    d_total, g_total = "face_d", "face_total"

    def __init__(self, cfg: LossConfig, perceptual: nn.Module, autocast, *, finetune: bool, frozen_format):
        super().__init__(cfg, perceptual, autocast)
        self.finetune, self.frozen_format = finetune, frozen_format

    def generate(self, nets: dict, batch: dict) -> tuple[torch.Tensor, ...]:
        if self.finetune:
            with self.autocast():
                _, body, _, _ = nets["g"](*generator_inputs(batch))
        else:  # frozen: a forward pass only, in generation's memory format
            inputs = [x.contiguous(memory_format=self.frozen_format) for x in generator_inputs(batch)]
            with torch.no_grad(), self.autocast():
                _, body, _, _ = nets["g"](*inputs)
        boxes = batch["face_box"]
        _, real = real_frames(batch)
        label_c, body_c, real_c, valid_c = (
            crop_boxes(x, boxes) for x in (batch["label"], body, real, batch["valid"])
        )
        with self.autocast():
            face = keep_valid(body_c + nets["face_g"](label_c, body_c), valid_c)
        return label_c, body_c, face, real_c

    def d_losses(self, nets: dict, batch: dict, fake) -> tuple[Losses, list]:
        label_c, _, face, real_c = fake
        with self.autocast():
            d_in = torch.cat([torch.cat([label_c, real_c], 1), torch.cat([label_c, face.detach()], 1)])
            d_real, d_fake = _split([nets["face_d"](d_in)], label_c.shape[0])
            return {"face_d": self.lsgan_d(d_real, d_fake)}, d_real

    def g_losses(self, nets: dict, batch: dict, fake, real: list | None = None) -> Losses:
        label_c, body_c, face, real_c = fake
        face_d = unwrapped(nets["face_d"])
        lam = self.cfg
        with self.autocast():
            d_fake = [face_d(torch.cat([label_c, face], 1))]
            if real is None:
                with torch.no_grad():
                    real = [face_d(torch.cat([label_c, real_c], 1))]
            losses = {
                "face_gan": self.gan(d_fake, True),
                "face_fm": self.fm(d_fake, real),
                "face_perceptual": self.perceptual(face, real_c),
            }
            losses["face_total"] = lam.lambda_face * (
                losses["face_gan"]
                + lam.lambda_fm * losses["face_fm"]
                + lam.lambda_perceptual * losses["face_perceptual"]
            )
        with torch.no_grad():
            losses["face_l1"] = (face.float() - real_c.float()).abs().mean()
            losses["face_l1_body_only"] = (body_c.float() - real_c.float()).abs().mean()
        return losses


class EnhanceLoss(_Objective):
    """The full-size enhancer (:mod:`dancenow.models.enhancer`) on patches
    (:class:`~dancenow.training.enhance.EnhancePatches`): a two-scale PatchGAN on (label, image),
    feature matching, the perceptual term and an L1 to the real patch. ``nets``: ``enhancer``,
    ``enhance_d``. ``generate`` returns ``(enhanced frame, alpha)`` patches."""

    d_total, g_total = "enhance_d", "enhance_total"

    def generate(self, nets: dict, batch: dict) -> tuple[torch.Tensor, ...]:
        with self.autocast():
            return enhance(
                nets["enhancer"], batch["composite"], batch["alpha"], batch["label"], batch["plate"]
            )

    def d_losses(self, nets: dict, batch: dict, fake) -> tuple[Losses, list]:
        label, n = batch["label"], batch["label"].shape[0]
        with self.autocast():
            d_in = torch.cat([torch.cat([label, batch["image"]], 1), torch.cat([label, fake[0].detach()], 1)])
            d_real, d_fake = _split(nets["enhance_d"](d_in), n)
            return {"enhance_d": self.lsgan_d(d_real, d_fake)}, d_real

    def g_losses(self, nets: dict, batch: dict, fake, real: list | None = None) -> Losses:
        frame, label, image = fake[0], batch["label"], batch["image"]
        d = unwrapped(nets["enhance_d"])
        lam = self.cfg
        with self.autocast():
            d_fake = d(torch.cat([label, frame], 1))
            if real is None:
                with torch.no_grad():
                    real = d(torch.cat([label, image], 1))
            losses = {
                "enhance_gan": self.gan(d_fake, True),
                "enhance_fm": self.fm(d_fake, real),
                "enhance_perceptual": self.perceptual(frame, image),
            }
        losses["enhance_l1"] = (frame.float() - image.float()).abs().mean()
        losses["enhance_total"] = (
            losses["enhance_gan"]
            + lam.lambda_fm * losses["enhance_fm"]
            + lam.lambda_perceptual * losses["enhance_perceptual"]
            + lam.lambda_enhance_l1 * losses["enhance_l1"]
        )
        with torch.no_grad():  # the plain enlargement's L1 on the same patches: what the stage improves on
            plain = batch["plate"] + batch["alpha"] * (batch["composite"] - batch["plate"])
            losses["enhance_l1_plain"] = (plain.float() - image.float()).abs().mean()
        return losses


def gan_step(loss: _Objective, nets: dict, batch: dict, opt: dict, *, fused: bool) -> Losses:
    """One GAN step of ``loss`` on ``batch``: returns every named loss (tensors).

    ``opt``: ``g`` and ``d``, the Adam optimizers of the generator(s) and discriminator(s).
    Raises :class:`NonFiniteLoss` (no weight updated from it) when a total is NaN/Inf.
    """
    fake = loss.generate(nets, batch)
    losses, real = loss.d_losses(nets, batch, fake)
    if fused:
        losses |= loss.g_losses(nets, batch, fake, real)
        update(losses, {loss.g_total: opt["g"], loss.d_total: opt["d"]})
    else:
        update(losses, {loss.d_total: opt["d"]})
        losses |= loss.g_losses(nets, batch, fake)
        update(losses, {loss.g_total: opt["g"]})
    return losses


def update(losses: Losses, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Step each optimizer on its loss (``losses[key]``).

    Every backward pass is restricted to its own optimizer's parameters (``inputs=``), and D's
    inputs in its own loss are detached, so no backward computes a gradient nobody uses: D's loss
    gives D's weight gradients only, G's loss D's input gradients for the generated images only.
    """
    for key in optimizers:
        if not torch.isfinite(losses[key]):
            raise NonFiniteLoss(
                f"{_NAMES[key]} is {losses[key].item()} (NaN/Inf); the weights were not updated with it"
            )
    for opt in optimizers.values():
        opt.zero_grad(set_to_none=True)
    for key, opt in optimizers.items():
        params = [p for group in opt.param_groups for p in group["params"] if p.requires_grad]
        torch.autograd.backward(losses[key], inputs=params)
    for opt in optimizers.values():
        opt.step()


_NAMES = {
    "d_total": "discriminator loss",
    "g_total": "generator loss",
    "face_d": "face discriminator loss",
    "face_total": "face generator loss",
    "enhance_d": "enhancer discriminator loss",
    "enhance_total": "enhancer loss",
}


def _split(outputs: list[Features], n: int) -> tuple[list[Features], list[Features]]:
    """Split discriminator outputs of a ``[real; fake]`` batch into (real, fake) at sample ``n``."""
    return [[f[:n] for f in scale] for scale in outputs], [[f[n:] for f in scale] for scale in outputs]
