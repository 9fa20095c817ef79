"""Results back to where clinicians look: PACS round trips (DICOMweb or DIMSE) and a listening DICOM node.

- ``roundtrip.run_round_trip``: find a study's CT series, fetch, analyse, store SEG/SR/SC back (``tqgd pacs run``);
- ``dicomweb.DicomWebPacs`` (QIDO-RS / WADO-RS / STOW-RS) and ``dimse.DimsePacs`` (C-FIND / C-GET / C-STORE);
- ``listen.Listener``: the ``tqgd listen`` node. Its one non-obvious mechanism, store-before-acknowledge with
  resumable series, is explained step by step at the top of ``listen.py`` and ``series_store.py``;
- ``analysis``: what runs on a series (``detect`` with weights, or the ``threshold`` plumbing check).

Imports go downward only: this room uses ``tqgd.dicom_out``, ``tqgd.engine``, ``tqgd.scoring`` and ``tqgd.data``.
"""
