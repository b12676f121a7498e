"""Readers of the real formats: good input gives the values, each kind of bad input a clear message."""

from pathlib import Path

import pytest

from sview_assets.config.declarations import DeclarationError, standard_declarations
from sview_assets.sources.common import SourceFormatError
from sview_assets.sources.outcome_values import read_outcome_values
from sview_assets.sources.postcodes import read_postcode_locations


def standard_reader(name: str, file_name: str):
    """Read ``file_name`` (in the test's folder) as the one source of standard declaration ``name``."""
    declarations = standard_declarations((name,), Path("outcomes.toml"))
    source = declarations.sources[0]

    def read(path: Path):
        moved = type(source)(**{**source.__dict__, "file": path.name})
        return read_outcome_values(moved, declarations.outcomes_of(source.name), path.parent)

    return read


read_iod_ranks = standard_reader("iod_2015", "iod.csv")
read_census_shares = standard_reader("census_2011", "census.csv")
read_household_income = standard_reader("london_income_2012_13", "income.csv")

IOD_HEADER = (
    '"LSOA code (2011)","Income Rank (where 1 is most deprived)","Employment Rank (where 1 is most deprived)",'
    '"Education, Skills and Training Rank (where 1 is most deprived)","Health Deprivation and Disability Rank (where 1 is most deprived)",'
    '"Crime Rank (where 1 is most deprived)","Barriers to Housing and Services Rank (where 1 is most deprived)",'
    '"Living Environment Rank (where 1 is most deprived)"'
)
CENSUS_HEADER = (
    "GEO_CODE,GEO_TYP2,Health: All categories: General health,Health: Bad health,Health: Very bad health,"
    "Occupancy rating (rooms): All categories,Occupancy rating (rooms): -1 or less,"
    "Economic activity: All usual residents aged 16 to 74,Economic activity: Unemployed,"
    "Qualifications: All usual residents aged 16 and over,Qualifications: No qualifications,Qualifications: Level 1"
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_iod_reads_ranks_per_lsoa(tmp_path):
    path = write(tmp_path, "iod.csv", IOD_HEADER + '\nE01000001,1,2,3,4,5,6,7\nE01000002,"32,844",9,9,9,9,9,9\n')
    ranks = read_iod_ranks(path)
    assert ranks.loc["E01000001", "income"] == 1
    assert ranks.loc["E01000001", "living_environment"] == 7
    assert ranks.loc["E01000002", "income"] == 32844


@pytest.mark.parametrize(
    "body, expected",
    [
        ("", "has a header but no data rows"),
        ("E01000001,1,2,3,4,5,6,seven\n", "'seven' is not a number"),
        ("E01000001,1,2,3,4,5,6,7\nE01000001,1,2,3,4,5,6,7\n", "duplicate area code 'E01000001'"),
        ("E01000001,0,2,3,4,5,6,7\n", "below 1"),
        ("E01000001,1.5,2,3,4,5,6,7\n", "not a whole number"),
        ("E01000001,1e3,2,3,4,5,6,7\n", "'1e3' is not a whole number written in digits"),
        ("E01000001,inf,2,3,4,5,6,7\n", "column 'Income Rank .*', line 2: 'inf' is not a finite number"),
        ("E01000001,nan,2,3,4,5,6,7\n", "'nan' is not a number"),
        (" ,1,2,3,4,5,6,7\n", "the area code is empty"),
    ],
)
def test_iod_bad_values_name_file_column_and_row(tmp_path, body, expected):
    path = write(tmp_path, "iod.csv", IOD_HEADER + "\n" + body)
    with pytest.raises((SourceFormatError, DeclarationError), match=expected) as error:
        read_iod_ranks(path)
    assert str(path) in str(error.value)
    if "no data" not in expected:
        assert "standard declaration 'iod_2015'" in str(error.value)
    if body.count("\n") == 1 and "no data" not in expected:
        assert "line 2" in str(error.value)


def test_iod_missing_column_lists_what_was_found(tmp_path):
    path = write(tmp_path, "iod.csv", "LSOA code (2011),Income Rank (where 1 is most deprived)\nE01000001,1\n")
    with pytest.raises(DeclarationError, match="outcome 'employment': column.*Employment Rank.*Columns found: 'LSOA code"):
        read_iod_ranks(path)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(SourceFormatError, match="file is empty"):
        read_iod_ranks(write(tmp_path, "empty.csv", ""))
    with pytest.raises(SourceFormatError, match="file not found"):
        read_iod_ranks(tmp_path / "nope.csv")


def test_census_shares(tmp_path):
    path = write(tmp_path, "census.csv", CENSUS_HEADER + "\nE01000001,LSOADZ,100,10,5,50,5,200,20,400,40,60\n")
    shares = read_census_shares(path)
    assert shares.loc["E01000001", "bad_health"] == pytest.approx(0.15)
    assert shares.loc["E01000001", "overcrowding"] == pytest.approx(0.10)
    assert shares.loc["E01000001", "unemployment"] == pytest.approx(0.10)
    assert shares.loc["E01000001", "low_qualifications"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    "row, expected",
    [
        ("E01000001,MSOADZ,100,10,5,50,5,200,20,400,40,60", "column 'GEO_TYP2', line 2: 'MSOADZ', expected 'LSOADZ'"),
        ("E01000001,LSOADZ,10,10,5,50,5,200,20,400,40,60", "exceed the total"),
        ("E01000001,LSOADZ,100,-1,5,50,5,200,20,400,40,60", "below 0"),
    ],
)
def test_census_bad_rows(tmp_path, row, expected):
    path = write(tmp_path, "census.csv", CENSUS_HEADER + "\n" + row + "\n")
    with pytest.raises(DeclarationError, match=expected) as error:
        read_census_shares(path)
    assert "line 2" in str(error.value)


def test_income_accepts_currency_formatting(tmp_path):
    path = write(tmp_path, "income.csv", 'Code,Names,Mean 2012/13,Median 2012/13\nE01000001,A,"£41,250",33000\n')
    income = read_household_income(path)
    assert income.loc["E01000001", "mean_income"] == 41250
    assert income.loc["E01000001", "median_income"] == 33000


def test_income_missing_median(tmp_path):
    path = write(tmp_path, "income.csv", "Code,Mean 2012/13\nE01000001,1\n")
    with pytest.raises(DeclarationError, match="Median 2012/13"):
        read_household_income(path)


POSTCODE_HEADER = "pcd,oa11,lsoa11,msoa11,lat,long,img_id\n"


def test_postcodes_skip_rows_without_image(tmp_path):
    path = write(
        tmp_path,
        "pcd.csv",
        POSTCODE_HEADER + "AB1 1AA,E00000001,E01000001,E02000001,51.5,-0.1,7\nAB1 1AB,E00000001,E01000001,E02000001,51.5,-0.1,\n",
    )
    result = read_postcode_locations(path)
    assert result.rows_without_image == 1
    assert result.locations["img_id"].tolist() == [7]
    assert result.locations.loc[0, "lsoa11"] == "E01000001"


@pytest.mark.parametrize(
    "rows, expected",
    [
        ("A,E0,E01000001,E02,51.5,-0.1,1\nB,E0,E01000002,E02,51.5,-0.1,1\n", "img_id 1 appears again at line 3"),
        ("A,E0,E01000001,E02,951.5,-0.1,1\n", "out of range"),
        ("A,E0, ,E02,51.5,-0.1,1\n", "column 'lsoa11', line 2: the area code is empty"),
        ("A,E0,E01000001,E02,51.5,-0.1,x\n", "'x' is not a number"),
        ("A,E0,E01000001,E02,51.5,-0.1,1e3\n", "column 'img_id', line 2: '1e3' is not a whole number written in digits"),
        ("A,E0,E01000001,E02,-inf,-0.1,1\n", "column 'lat', line 2: '-inf' is not a finite number"),
    ],
)
def test_postcode_bad_rows(tmp_path, rows, expected):
    with pytest.raises(SourceFormatError, match=expected):
        read_postcode_locations(write(tmp_path, "pcd.csv", POSTCODE_HEADER + rows))


def test_postcode_row_numbers_count_skipped_rows(tmp_path):
    text = POSTCODE_HEADER + "A,E0,E01000001,E02,51.5,-0.1,\nB,E0,E01000001,E02,51.5,-0.1,oops\n"
    with pytest.raises(SourceFormatError, match="line 3"):
        read_postcode_locations(write(tmp_path, "pcd.csv", text))


def test_a_csv_in_another_encoding_names_the_line_and_says_save_as_utf8(tmp_path):
    path = tmp_path / "income.csv"
    path.write_bytes("Code,Mean 2012/13,Median 2012/13\nE01000001,1,2\nE01000002,£3,4\n".encode("cp1252"))
    with pytest.raises(SourceFormatError, match=r"income.csv: London household income file is not UTF-8 text: byte b'\\xa3' at line 3\. Save it as UTF-8"):
        read_household_income(path)
