"""R's default contrasts inside formulaic.

R codes an unordered factor with treatment contrasts and an *ordered* factor with
orthonormal polynomial contrasts (``contr.poly``, columns ``.L .Q .C ^4 ...``).
formulaic uses treatment contrasts for both, so this module provides a pandas
materializer that picks polynomial contrasts for ordered categoricals and remembers
the choice in the model spec: re-materializing new data (where the column may arrive
as plain strings) reuses the training contrasts and levels.

formulaic's ``PolyContrasts`` builds the same basis as R's ``contr.poly`` (normalized
monic orthogonal polynomials over equally spaced scores); the tests check it against
R's documented values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from formulaic.materializers import PandasMaterializer
from formulaic.transforms.contrasts import PolyContrasts, encode_contrasts
from formulaic.utils.cast import as_columns
from formulaic.utils.null_handling import drop_rows as drop_nulls
from interface_meta import override

__all__ = ["RContrastsMaterializer", "MATERIALIZER_NAME"]

MATERIALIZER_NAME = "mixedlm_pandas"


class RContrastsMaterializer(PandasMaterializer):
    """pandas materializer using R's default contrasts (poly for ordered factors)."""

    REGISTER_NAME = MATERIALIZER_NAME
    REGISTER_INPUTS: Sequence[str] = ()
    REGISTER_PRECEDENCE = -1.0

    @override
    def _encode_categorical(
        self,
        values: Any,
        metadata: Any,
        encoder_state: dict[str, Any],
        spec: Any,
        drop_rows: Sequence[int],
        reduced_rank: bool = False,
    ) -> Any:
        """Encode a categorical factor with R's default contrasts.

        Parameters
        ----------
        values : FactorValues
            The factor's evaluated values.
        metadata : FactorValuesMetadata
            formulaic's metadata for the factor.
        encoder_state : dict
            The factor's stored state (categories and contrasts from training).
        spec : formulaic.ModelSpec
            The spec being materialized.
        drop_rows : sequence of int
            Rows formulaic drops.
        reduced_rank : bool
            Whether the factor must not span the intercept.  Treatment coding is
            encoded at full rank and reduced later by formulaic (as its own
            materializer does); polynomial coding is reduced here, because dropping
            a dummy column is not how ``contr.poly`` removes the intercept.

        Returns
        -------
        dict
            Encoded columns.
        """
        stored = encoder_state.get("contrasts")
        if stored is not None:
            contrasts = stored.contrasts
        elif _is_ordered(values):
            contrasts = PolyContrasts()
        else:
            contrasts = None
        poly = isinstance(contrasts, PolyContrasts)
        if drop_rows:
            values = drop_nulls(values, indices=drop_rows)
        return as_columns(
            encode_contrasts(
                values,
                contrasts=contrasts,
                reduced_rank=reduced_rank if poly else False,
                _metadata=metadata,
                _state=encoder_state,
                _spec=spec,
            )
        )


def _is_ordered(values: Any) -> bool:
    """True for an ordered pandas Categorical (possibly wrapped by formulaic)."""
    raw = getattr(values, "__wrapped__", values)
    dtype = getattr(raw, "dtype", None)
    return isinstance(dtype, pd.CategoricalDtype) and bool(dtype.ordered)
