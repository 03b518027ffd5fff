"""The visa's visible digital seal: the visa's data and its post signed (ECDSA P-256) in a DataMatrix, verified
offline against the published seal keys (docs/domain/visa-document.md).

``vds`` writes and reads the bytes (ICAO Doc 9303 Part 13), ``keys`` signs and judges them, ``store`` keeps the key
files, ``barcode`` puts the bytes in a DataMatrix and reads them back.
"""
