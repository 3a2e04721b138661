"""Task forms as data, checked in the engine (ADR 2): the form file format (``files``), its checks at deploy
(``checks``) and the forms a process version stores (``deployment``); a submission's validation
(``validation`` over ``values``, ``conditions`` and ``rows``), the labels of case data (``labels``), what a
submission may set (``contracts``) and the bounds of case data (``limits``)."""
